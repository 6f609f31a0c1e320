package modelserver_test

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
)

func TestDialectsSet(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    modelserver.Dialects
		wantErr string
	}{
		{"none", nil, modelserver.Dialects{}, ""},
		{"one", []string{"open-inference=triton"}, modelserver.Dialects{OpenInference: modelserver.OIPTriton}, ""},
		{"repeated", []string{"open-inference=kserve-hf", "vertex=tf-serving"},
			modelserver.Dialects{OpenInference: modelserver.OIPKServeHF, Vertex: modelserver.VertexTFServing}, ""},
		{"comma list", []string{"vertex=tabular, tei=tei"},
			modelserver.Dialects{Vertex: modelserver.VertexTabular, TEI: modelserver.TEI}, ""},
		{"later wins", []string{"vertex=tabular", "vertex=automl"}, modelserver.Dialects{Vertex: modelserver.VertexAutoML}, ""},
		{"unknown dialect", []string{"vertex=sagemaker"}, modelserver.Dialects{}, `vertex dialect "sagemaker" is not one of automl, tabular, tf-serving`},
		{"unknown protocol", []string{"grpc=triton"}, modelserver.Dialects{}, `unknown protocol "grpc"`},
		{"no equals", []string{"triton"}, modelserver.Dialects{}, "is not protocol=dialect"},
		{"empty dialect", []string{"tei="}, modelserver.Dialects{}, "is not protocol=dialect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var d modelserver.Dialects
			fs.Var(&d, "dialect", modelserver.DialectUsage())
			var args []string
			for _, a := range tc.args {
				args = append(args, "--dialect", a)
			}
			err := fs.Parse(args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d != tc.want {
				t.Errorf("dialects %+v, want %+v", d, tc.want)
			}
		})
	}
}

func TestDialectsString(t *testing.T) {
	d := modelserver.Dialects{Vertex: modelserver.VertexTFServing}
	const want = "open-inference=chorus,vertex=tf-serving,tei=tei"
	if got := d.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	var back modelserver.Dialects
	if err := back.Set(d.String()); err != nil || back.String() != want {
		t.Errorf("Set(String()) = %v, %q", err, back.String())
	}
}

func TestUnknownDialectPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with an unknown dialect did not panic")
		}
	}()
	modelserver.New([]refmodel.Model{newFake("a")}, modelserver.Options{Dialects: modelserver.Dialects{OpenInference: "torchserve"}})
}
