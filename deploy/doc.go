// Package deploy holds the Dockerfile and the KServe InferenceService manifest of a compiled model's server binary; its test checks that they parse and agree with each other.
package deploy
