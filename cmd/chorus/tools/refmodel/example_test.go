package refmodel_test

import (
	"fmt"

	chorus "github.com/chorusml/chorus"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
)

func ExampleLoadAll() {
	models, err := refmodel.LoadAll(chorus.Data)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range models {
		fmt.Println(m.Name(), m.Labels())
	}
	p := models[1].Predict([]string{"Great phone, works perfectly."})
	fmt.Println(p[0][1] > 0.5)
	// Output:
	// sentiment-vader [negative neutral positive]
	// sentiment-nb [negative positive]
	// topics [pricing support reliability performance usability features billing onboarding]
	// acme-topics [integrations mobile-app]
	// true
}
