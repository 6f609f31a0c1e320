package nb

import (
	"slices"
	"testing"
)

func TestTokenize(t *testing.T) {
	plain, neg := Options{}, Options{Negation: true}
	all := Options{Negation: true, Stem: true, StopWords: true}
	tests := []struct {
		name string
		text string
		opt  Options
		want []string
	}{
		{"empty", "", all, nil},
		{"lowercases and splits on punctuation", "Great phone!! Works-well.", plain, []string{"great", "phone", "works", "well"}},
		{"keeps digits", "Lasted 2 days, 45min", plain, []string{"lasted", "2", "days", "45min"}},
		{"keeps inner apostrophes", "Don't buy it's case", plain, []string{"don't", "buy", "it's", "case"}},
		{"curly apostrophe becomes straight", "don\u2019t", plain, []string{"don't"}},
		{"drops quote marks around words", "'quoted' words'", plain, []string{"quoted", "words"}},
		{"non-ASCII letters", "Très BIEN", plain, []string{"très", "bien"}},
		{"no negation when off", "not good", plain, []string{"not", "good"}},
		{"negation to clause end", "Not good at all. Great!", neg, []string{"not", "NOT_good", "NOT_at", "NOT_all", "great"}},
		{"n't opens scope", "It doesn't work, sadly", neg, []string{"it", "doesn't", "NOT_work", "sadly"}},
		{"apostrophe-less negator", "dont like it", neg, []string{"dont", "NOT_like", "NOT_it"}},
		{"never and no", "never again; no way", neg, []string{"never", "NOT_again", "no", "NOT_way"}},
		{"negator inside a scope is marked too", "not never good", neg, []string{"not", "NOT_never", "NOT_good"}},
		{"scope survives non-clause punctuation", "not - good", neg, []string{"not", "NOT_good"}},
		{"stop words dropped", "The app is great", Options{StopWords: true}, []string{"app", "great"}},
		{"stemmed", "Charged twice, charges pending", Options{Stem: true}, []string{"charg", "twic", "charg", "pend"}},
		{"all: negators kept, stop words dropped, marked tokens stemmed", "It doesn't charge the cards. Loving it",
			all, []string{"doesn't", "NOT_charg", "NOT_card", "lov"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Tokenize(tt.text, tt.opt); !slices.Equal(got, tt.want) {
				t.Errorf("Tokenize(%q, %+v) = %q, want %q", tt.text, tt.opt, got, tt.want)
			}
		})
	}
}

func TestStem(t *testing.T) {
	tests := []struct{ in, want string }{
		{"charge", "charg"}, {"charges", "charg"}, {"charged", "charg"}, {"charging", "charg"},
		{"stops", "stop"}, {"stopped", "stop"}, {"running", "run"}, {"batteries", "batteri"},
		{"very", "veri"}, {"quickly", "quick"}, {"pass", "pass"}, {"fall", "fall"}, {"bus", "bus"},
		{"is", "is"}, {"app", "app"}, {"sing", "sing"}, {"it's", "it's"}, {"cafés", "cafés"},
	}
	for _, tt := range tests {
		if got := string(stem([]byte(tt.in))); got != tt.want {
			t.Errorf("stem(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func BenchmarkTokenize(b *testing.B) {
	const text = "I don't think this phone is worth it: the battery died after two days, and support never answered."
	var buf []byte
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		buf = eachToken(text, Options{Negation: true, Stem: true, StopWords: true}, buf, func([]byte) { n++ })
	}
	_ = n
}
