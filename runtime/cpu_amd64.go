package runtime

// hasAsm: generated packages carry amd64 assembly kernels.
const hasAsm = true
