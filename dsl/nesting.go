package dsl

import "fmt"

// maxNesting bounds how deeply a source nests, the nesting budget. The
// parser counts, at the token that opens each, the brackets ( [ and
// { and the links of else-if chains (the grammar nests each in the
// previous), the only constructs it recurses on, and stops at the
// 1001st level; the expander counts the same constructs plus macro calls,
// across calls, and imports count as levels of their own chain. A real
// model nests about ten levels deep.
const maxNesting = 1000

var nestingMessage = fmt.Sprintf("nesting deeper than %d levels of brackets, blocks and else-if chains", maxNesting)
