package nb

import (
	"unicode"
	"unicode/utf8"
)

// NotPrefix marks a token inside a negation's scope. It is upper case so it
// can never collide with a real token, which is always lower case.
const NotPrefix = "NOT_"

// isNegator reports whether a word opens a negation scope. The
// apostrophe-less forms are common in reviews ("dont", "doesnt") and would
// otherwise escape the "n't" rule.
func isNegator(w []byte) bool {
	if n := len(w); n >= 3 && w[n-3] == 'n' && w[n-2] == '\'' && w[n-1] == 't' {
		return true
	}
	switch string(w) {
	case "not", "no", "never", "cannot", "nothing", "nobody", "none",
		"dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "werent", "cant", "couldnt",
		"wouldnt", "shouldnt", "wont", "havent", "hasnt", "hadnt", "aint":
		return true
	}
	return false
}

// endsScope reports whether r closes a negation scope: clause punctuation,
// as in Das & Chen (2001) and Pang et al. (2002).
func endsScope(r rune) bool {
	switch r {
	case '.', ',', '!', '?', ';', ':', '(', ')', '"', '\n':
		return true
	}
	return false
}

func isApostrophe(r rune) bool { return r == '\'' || r == '\u2019' || r == '\u2018' }

func isWord(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// eachToken calls yield with each token of text: maximal runs of letters and
// digits, lower-cased, where an apostrophe between two letters stays part of
// the word ("don't", "it's") and curly apostrophes become straight ones.
// Options then drop stop words, stem, and (with Negation) prefix NotPrefix
// to tokens after a negator up to the next clause punctuation.
//
// The token bytes live in buf and are only valid during the call: callers
// look them up with m[string(tok)], which does not allocate, so prediction
// builds no strings. It returns buf, possibly grown, for reuse.
func eachToken(text string, opt Options, buf []byte, yield func(tok []byte)) []byte {
	// buf holds NotPrefix followed by the current word, so a negated token
	// is all of buf and a plain one is the word alone: no copying either way.
	buf = append(buf[:0], NotPrefix...)
	inWord, negated := false, false
	emit := func() {
		if !inWord {
			return
		}
		word := buf[len(NotPrefix):]
		neg := opt.Negation && isNegator(word)
		if !opt.StopWords || !isStopWord(word) {
			if opt.Stem {
				word = stem(word)
				buf = buf[:len(NotPrefix)+len(word)]
			}
			if negated {
				yield(buf)
			} else {
				yield(word)
			}
		}
		if neg {
			negated = true
		}
		buf = buf[:len(NotPrefix)]
		inWord = false
	}
	for i, r := range text {
		switch {
		case isWord(r):
			inWord = true
			if r < utf8.RuneSelf {
				if 'A' <= r && r <= 'Z' {
					r += 'a' - 'A'
				}
				buf = append(buf, byte(r))
			} else {
				buf = utf8.AppendRune(buf, unicode.ToLower(r))
			}
		case inWord && isApostrophe(r):
			next, _ := utf8.DecodeRuneInString(text[i+utf8.RuneLen(r):])
			if isWord(next) {
				buf = append(buf, '\'')
				continue
			}
			emit()
		default:
			emit()
			if endsScope(r) {
				negated = false
			}
		}
	}
	emit()
	return buf
}

// Tokenize returns text's tokens as eachToken makes them; for training and
// tests, where allocating strings is fine.
func Tokenize(text string, opt Options) []string {
	var toks []string
	eachToken(text, opt, nil, func(tok []byte) { toks = append(toks, string(tok)) })
	return toks
}
