package vertex

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chorusml/chorus/worker/endpoint"
)

// BenchmarkDecode measures reading one 64-prediction response per form,
// without HTTP: the per-item cost the form adds.
func BenchmarkDecode(b *testing.B) {
	const n = 64
	labels := []string{"negative", "neutral", "positive"}
	forms := []struct {
		pred Prediction
		one  string
	}{
		{PredictionAutoML, `{"ids":["8123","8124","8125"],"displayNames":["positive","neutral","negative"],"confidences":[0.7,0.2,0.1]}`},
		{PredictionScoresClasses, `{"scores":[0.7,0.2,0.1],"classes":["positive","neutral","negative"]}`},
		{PredictionProbabilities, `[0.1,0.2,0.7]`},
		{PredictionLabelScore, `[{"label":"positive","score":0.7},{"label":"neutral","score":0.2},{"label":"negative","score":0.1}]`},
		{PredictionClassIndex, `2`},
	}
	for _, f := range forms {
		b.Run(string(f.pred), func(b *testing.B) {
			preds := make([]string, n)
			for i := range preds {
				preds[i] = f.one
			}
			body := []byte(fmt.Sprintf(`{"predictions":[%s],"deployedModelId":"4242424242","modelVersionId":"2"}`, strings.Join(preds, ",")))
			c, err := New(endpoint.Spec{Name: "m", URL: "http://127.0.0.1:1", Labels: labels}, Options{Prediction: f.pred})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := c.decode(body, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/item")
		})
	}
}
