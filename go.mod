module github.com/rnc-dev/rnc

go 1.26.8

require (
	github.com/alecthomas/participle/v2 v2.1.4
	github.com/google/go-cmp v0.7.0
	github.com/mmcloughlin/avo v0.6.0
	github.com/nlpodyssey/gopickle v0.2.0
	golang.org/x/mod v0.42.0
	golang.org/x/sys v0.50.0
)

require (
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/tools v0.52.0 // indirect
)
