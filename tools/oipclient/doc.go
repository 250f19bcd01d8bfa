// Package oipclient holds client.py, an Open Inference Protocol REST client written with Python's requests, and the Go test that runs it against serve.Handler serving a real generated model.
package oipclient
