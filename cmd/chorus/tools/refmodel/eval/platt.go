package eval

import (
	"math"

	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel/nb"
)

// ridge is a small L2 penalty on the scale, so that perfectly separable
// scores still give a finite fit instead of an ever-growing scale.
const ridge = 1e-5

// fitPlatt fits p = σ(scale·s + bias) to labels y by maximum likelihood
// (logistic regression on one feature) with Newton's method: the problem
// is convex and two-dimensional, so a dozen exact steps converge where
// gradient descent would need a learning rate and thousands.
func fitPlatt(s []float64, y []bool) Calibration {
	a, b := 1.0, 0.0
	n := float64(len(s))
	for range 100 {
		// Gradient and Hessian of the mean negative log-likelihood.
		var ga, gb, haa, hab, hbb float64
		for i, x := range s {
			p := nb.Sigmoid(a*x + b)
			r := p
			if y[i] {
				r = p - 1
			}
			w := p * (1 - p)
			ga += r * x
			gb += r
			haa += w * x * x
			hab += w * x
			hbb += w
		}
		ga, gb, haa, hab, hbb = ga/n+ridge*a, gb/n, haa/n+ridge, hab/n, hbb/n
		det := haa*hbb - hab*hab
		if det <= 0 || math.IsNaN(det) {
			break
		}
		da := (hbb*ga - hab*gb) / det
		db := (haa*gb - hab*ga) / det
		a, b = a-da, b-db
		if math.Abs(da)+math.Abs(db) < 1e-12 {
			break
		}
	}
	return Calibration{Scale: a, Bias: b}
}

func calibrate(c Calibration, s float64) float64 { return nb.Sigmoid(c.Scale*s + c.Bias) }

// logLoss is the mean negative log-likelihood of probabilities p for y.
func logLoss(p []float64, y []bool) float64 {
	const eps = 1e-15
	sum := 0.0
	for i, q := range p {
		q = min(max(q, eps), 1-eps)
		if y[i] {
			sum -= math.Log(q)
		} else {
			sum -= math.Log(1 - q)
		}
	}
	return sum / float64(len(p))
}
