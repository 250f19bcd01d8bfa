//go:build !amd64

package runtime

// hasAsm: generated packages carry assembly only for amd64.
const hasAsm = false
