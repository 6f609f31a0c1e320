package nb

import "bytes"

// isStopWord reports whether w is a function word, which carries no topic
// or sentiment of its own and in a multinomial model only adds noise to
// every class's likelihood. Negators are deliberately absent: negation
// marking needs them.
func isStopWord(w []byte) bool {
	switch string(w) {
	case "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "by", "for", "from", "with",
		"as", "is", "are", "was", "were", "be", "been", "am", "it", "its", "it's", "this", "that",
		"these", "those", "i", "i'm", "i've", "me", "my", "we", "our", "us", "you", "your", "they",
		"their", "them", "he", "she", "his", "her", "so", "if", "then", "than", "there", "have",
		"has", "had", "do", "does", "did", "will", "would", "can", "could", "just", "about":
		return true
	}
	return false
}

// stem strips common English inflections in place ("charges", "charged",
// "charging" → "charg"), so that a small training set's evidence for one
// form counts for the others. It is deliberately light (a few suffix
// rules, not Porter's full algorithm) and leaves short and non-ASCII words
// alone.
func stem(w []byte) []byte {
	for _, c := range w {
		if c >= 0x80 || c == '\'' {
			return w
		}
	}
	if len(w) <= 3 {
		return w
	}
	switch {
	case bytes.HasSuffix(w, []byte("ies")) && len(w) > 4:
		w = append(w[:len(w)-3], 'y')
	case bytes.HasSuffix(w, []byte("sses")):
		w = w[:len(w)-2]
	case bytes.HasSuffix(w, []byte("ss")), bytes.HasSuffix(w, []byte("us")), bytes.HasSuffix(w, []byte("is")):
	case w[len(w)-1] == 's':
		w = w[:len(w)-1]
	}
	switch {
	case bytes.HasSuffix(w, []byte("ing")) && len(w) >= 6:
		w = w[:len(w)-3]
	case bytes.HasSuffix(w, []byte("ied")) && len(w) > 4:
		w = append(w[:len(w)-3], 'y')
	case bytes.HasSuffix(w, []byte("ed")) && len(w) >= 5:
		w = w[:len(w)-2]
	case bytes.HasSuffix(w, []byte("ly")) && len(w) >= 5:
		w = w[:len(w)-2]
	}
	// "running" → "runn" → "run"; but "fall", "pass", "buzz" keep theirs.
	if n := len(w); n >= 4 && w[n-1] == w[n-2] && !bytes.ContainsRune([]byte("lsz"), rune(w[n-1])) && !isVowel(w[n-1]) {
		w = w[:n-1]
	}
	if n := len(w); n > 4 && w[n-1] == 'e' {
		w = w[:n-1]
	}
	if n := len(w); n > 3 && w[n-1] == 'y' {
		w[n-1] = 'i'
	}
	return w
}

func isVowel(c byte) bool {
	switch c {
	case 'a', 'e', 'i', 'o', 'u':
		return true
	}
	return false
}
