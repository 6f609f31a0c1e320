package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ---------------------------------------------------------------------------
// Kustomize: the subset deploy/kubernetes uses, rendered in process.

var kustomizeKeys = map[string]bool{
	"apiVersion": true, "kind": true, "resources": true, "components": true, "configMapGenerator": true,
	"patches": true, "images": true, "namespace": true, "labels": true, "commonLabels": true,
	"commonAnnotations": true, "generatorOptions": true,
}

type kustomization struct {
	dir  string
	spec obj
}

func kustomizeUnits(t *testing.T) []unit {
	t.Helper()
	root := filepath.Join(deployDir, "kubernetes")
	var ks []kustomization
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		docs, err := readYAMLDocs(p)
		if err != nil || len(docs) != 1 {
			return fmt.Errorf("%s: want one document: %v", p, err)
		}
		ks = append(ks, kustomization{filepath.Dir(p), docs[0]})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Roots are the overlays nothing else includes; every YAML file must
	// be used by some kustomization, so an orphan is not silently untested.
	referenced, used := map[string]bool{}, map[string]bool{}
	for _, k := range ks {
		used[filepath.Join(k.dir, "kustomization.yaml")] = true
		for _, r := range kustomizeRefs(k) {
			p := filepath.Join(k.dir, r)
			if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				referenced[filepath.Clean(p)] = true
			} else {
				used[filepath.Clean(p)] = true
			}
		}
	}
	for _, f := range yamlFiles(t) {
		if strings.HasPrefix(f, root+string(filepath.Separator)) && !used[filepath.Clean(f)] {
			t.Errorf("%s is in no kustomization: nothing deploys or checks it", relDeploy(f))
		}
	}
	var units []unit
	for _, k := range ks {
		if referenced[filepath.Clean(k.dir)] || str(k.spec, "kind") == "Component" {
			continue
		}
		objects, err := renderKustomization(k.dir)
		if err != nil {
			t.Fatalf("%s: %v", relDeploy(k.dir), err)
		}
		units = append(units, unit{
			name:    relDeploy(k.dir),
			objects: objects,
			configFor: func(v obj, key string) ([]byte, error) {
				cm := mp(v, "configMap")
				if cm == nil {
					return nil, fmt.Errorf("volume %s is not a ConfigMap", str(v, "name"))
				}
				key, ok := itemKey(list(cm, "items"), key)
				if !ok {
					return nil, fmt.Errorf("ConfigMap volume %s has no item for it", str(v, "name"))
				}
				name := str(cm, "name")
				for _, o := range objects {
					if str(o, "kind") == "ConfigMap" && str(o, "metadata", "name") == name {
						if s, ok := mp(o, "data")[key].(string); ok {
							return []byte(s), nil
						}
						return nil, fmt.Errorf("ConfigMap %s has no key %s", name, key)
					}
				}
				return nil, fmt.Errorf("ConfigMap %s is not in %s", name, relDeploy(k.dir))
			},
		})
	}
	return units
}

// kustomizeRefs lists the paths a kustomization reads, relative to it.
func kustomizeRefs(k kustomization) []string {
	refs := append(strs(k.spec, "resources"), strs(k.spec, "components")...)
	for _, p := range list(k.spec, "patches") {
		pm, _ := p.(obj)
		refs = append(refs, str(pm, "path"))
	}
	for _, g := range list(k.spec, "configMapGenerator") {
		gm, _ := g.(obj)
		for _, f := range strs(gm, "files") {
			_, p, ok := strings.Cut(f, "=")
			if !ok {
				p = f
			}
			refs = append(refs, p)
		}
	}
	return refs
}

// renderKustomization builds the objects a kustomization applies, keeping
// the names as written (kustomize adds a hash to generated ConfigMaps and
// rewrites the references; the test matches the unhashed names).
func renderKustomization(dir string) ([]obj, error) {
	docs, err := readYAMLDocs(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	k := docs[0]
	for key := range k {
		if !kustomizeKeys[key] {
			return nil, fmt.Errorf("kustomization uses %q, which this test does not render: teach renderKustomization", key)
		}
	}
	var objects []obj
	for _, r := range append(strs(k, "resources"), strs(k, "components")...) {
		p := filepath.Join(dir, r)
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		var got []obj
		if fi.IsDir() {
			got, err = renderKustomization(p)
		} else {
			got, err = readYAMLDocs(p)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
		objects = append(objects, got...)
	}
	for _, g := range list(k, "configMapGenerator") {
		gm, _ := g.(obj)
		data := obj{}
		for _, f := range strs(gm, "files") {
			key, p, ok := strings.Cut(f, "=")
			if !ok {
				key, p = filepath.Base(f), f
			}
			b, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil {
				return nil, fmt.Errorf("configMapGenerator %s: %w", str(gm, "name"), err)
			}
			data[key] = string(b)
		}
		for _, l := range strs(gm, "literals") {
			key, v, _ := strings.Cut(l, "=")
			data[key] = v
		}
		objects = append(objects, obj{"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj{"name": str(gm, "name")}, "data": data})
	}
	for _, p := range list(k, "patches") {
		pm, _ := p.(obj)
		if pm["target"] != nil || pm["patch"] != nil {
			return nil, errors.New("patches: only `path:` strategic-merge patches are rendered here")
		}
		patches, err := readYAMLDocs(filepath.Join(dir, str(pm, "path")))
		if err != nil {
			return nil, err
		}
		for _, patch := range patches {
			i := slices.IndexFunc(objects, func(o obj) bool {
				return str(o, "kind") == str(patch, "kind") && str(o, "metadata", "name") == str(patch, "metadata", "name")
			})
			if i < 0 {
				return nil, fmt.Errorf("patch %s: no %s %s to patch", str(pm, "path"), str(patch, "kind"), str(patch, "metadata", "name"))
			}
			objects[i] = mergePatch(objects[i], patch).(obj)
		}
	}
	return objects, nil
}

// mergePatch applies a strategic-merge patch the way kustomize does for
// what deploy/ uses: maps merge, lists of named items merge by name, other
// values are replaced.
func mergePatch(dst, patch any) any {
	switch p := patch.(type) {
	case obj:
		d, ok := dst.(obj)
		if !ok {
			return p
		}
		out := obj{}
		for k, v := range d {
			out[k] = v
		}
		for k, v := range p {
			out[k] = mergePatch(d[k], v)
		}
		return out
	case []any:
		d, ok := dst.([]any)
		if !ok || !namedList(p) || !namedList(d) {
			return p
		}
		out := slices.Clone(d)
		for _, item := range p {
			name := str(item.(obj), "name")
			if i := slices.IndexFunc(out, func(o any) bool { return str(o.(obj), "name") == name }); i >= 0 {
				out[i] = mergePatch(out[i], item)
			} else {
				out = append(out, item)
			}
		}
		return out
	default:
		return patch
	}
}

func namedList(l []any) bool {
	for _, v := range l {
		if m, ok := v.(obj); !ok || str(m, "name") == "" {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Cloud Run: one unit per file. Cloud Run has no ConfigMaps; the config is a
// Secret Manager secret mounted as a file, whose content is kept beside the
// manifest as <secret name>.yaml.

func cloudRunUnits(t *testing.T) []unit {
	t.Helper()
	dir := filepath.Join(deployDir, "cloudrun")
	var units []unit
	for _, f := range yamlFiles(t) {
		if filepath.Dir(f) != dir {
			continue
		}
		docs, err := readYAMLDocs(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) == 0 || isChorusConfig(docs[0]) {
			continue
		}
		units = append(units, unit{
			name:    relDeploy(f),
			objects: docs,
			configFor: func(v obj, key string) ([]byte, error) {
				s := mp(v, "secret")
				if s == nil {
					return nil, fmt.Errorf("volume %s is not a Secret Manager secret", str(v, "name"))
				}
				if _, ok := itemKey(list(s, "items"), key); !ok {
					return nil, fmt.Errorf("secret volume %s has no item for %s", str(v, "name"), key)
				}
				p := filepath.Join(dir, str(s, "secretName")+".yaml")
				b, err := os.ReadFile(p)
				if err != nil {
					return nil, fmt.Errorf("secret %s: its content belongs in %s: %w", str(s, "secretName"), relDeploy(p), err)
				}
				return b, nil
			},
		})
	}
	return units
}
