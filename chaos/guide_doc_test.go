package chaos_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goBlock matches a fenced Go code block of a Markdown file.
var goBlock = regexp.MustCompile("(?ms)^```go\n(.*?)^```")

// TestGuideSnippets checks that every Go snippet of the testing guide
// (docs/testing.md) is code of this package's tests and examples, so that
// the guide shows code that compiles and passes: each snippet must appear,
// whitespace aside, in one of the package's Go files.
func TestGuideSnippets(t *testing.T) {
	t.Parallel()
	guide, err := os.ReadFile(filepath.Join("..", "docs", "testing.md"))
	if os.IsNotExist(err) {
		t.Skip("docs/testing.md not found: not in the repository")
	}
	require.NoError(t, err)
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var code strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		code.WriteString(squash(string(b)))
		code.WriteByte('\n')
	}
	blocks := goBlock.FindAllSubmatchIndex(guide, -1)
	require.NotEmpty(t, blocks)
	for _, b := range blocks {
		line := 1 + strings.Count(string(guide[:b[0]]), "\n")
		snippet := string(guide[b[2]:b[3]])
		t.Run(fmt.Sprintf("line %d", line), func(t *testing.T) {
			assert.True(t, strings.Contains(code.String(), squash(snippet)),
				"the snippet at docs/testing.md:%d is not in the code of package chaos; update one or the other:\n%s", line, snippet)
		})
	}
}

// squash turns every run of white space into one space.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }
