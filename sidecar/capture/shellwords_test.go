package capture

import (
	"errors"
	"fmt"
	"strings"
)

// shellCommand is one simple command of a script: its words, and whether
// the previous command's output is piped into it.
type shellCommand struct {
	argv  []string
	piped bool
}

// splitScript splits a script into commands the way a POSIX shell does,
// for the subset Curl writes: comments, single quotes, backslash escapes
// and line continuations, blanks, newlines and pipes. Anything else a shell
// would interpret ($, `, ", ;, &, <, >, (, ), globs, ~) outside quotes is an
// error, so a script that splits here cannot inject anything.
func splitScript(s string) ([]shellCommand, error) {
	var cmds []shellCommand
	var cur shellCommand
	var word strings.Builder
	inWord := false
	endWord := func() {
		if inWord {
			cur.argv = append(cur.argv, word.String())
			word.Reset()
			inWord = false
		}
	}
	endCommand := func(piped bool) error {
		endWord()
		if len(cur.argv) == 0 {
			if piped || cur.piped {
				return errors.New("empty command in a pipeline")
			}
			return nil
		}
		cmds = append(cmds, cur)
		cur = shellCommand{piped: piped}
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			word.WriteString(s[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("backslash at the end")
			}
			i++
			if s[i] == '\n' {
				continue // line continuation
			}
			word.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t':
			endWord()
		case c == '\n':
			if err := endCommand(false); err != nil {
				return nil, err
			}
		case c == '|':
			if err := endCommand(true); err != nil {
				return nil, err
			}
		case c == '#' && !inWord:
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				j = len(s) - i
			}
			i += j - 1
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("-_./:@%+=,", c) >= 0:
			word.WriteByte(c)
			inWord = true
		default:
			return nil, fmt.Errorf("unquoted %q at byte %d", c, i)
		}
	}
	if err := endCommand(false); err != nil {
		return nil, err
	}
	if cur.piped {
		return nil, errors.New("pipe at the end")
	}
	return cmds, nil
}

// printfOutput is what printf(1) writes for a format with no arguments,
// for the escapes printfFormat uses: %%, \\ and \ooo.
func printfOutput(format string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch c {
		case '%':
			if i+1 >= len(format) || format[i+1] != '%' {
				return nil, fmt.Errorf("printf directive at byte %d", i)
			}
			out = append(out, '%')
			i++
		case '\\':
			if i+1 >= len(format) {
				return nil, errors.New("backslash at the end")
			}
			if format[i+1] == '\\' {
				out = append(out, '\\')
				i++
				continue
			}
			n, v := 0, 0
			for n < 3 && i+1+n < len(format) && format[i+1+n] >= '0' && format[i+1+n] <= '7' {
				v = v*8 + int(format[i+1+n]-'0')
				n++
			}
			if n == 0 || v > 255 {
				return nil, fmt.Errorf("escape at byte %d", i)
			}
			out = append(out, byte(v))
			i += n
		default:
			out = append(out, c)
		}
	}
	return out, nil
}
