// Keras HDF5 weight files.
//
// ParseKerasH5 reads the two layouts Keras uses for weights in HDF5 files
// (the HDF5 subset itself is read by package runtime/hdf5) and returns the
// tensors under rnc's names "<keras layer>/<param>", with Keras's shapes
// (Conv2D kernels HWIO [kh, kw, cin, cout], Dense kernels [in, out]).
//
// # Keras 2 / tf.keras (save_weights("x.h5"), keras.applications files)
//
// Written by tf.keras hdf5_format.save_weights_to_hdf5_group (and by Keras 3's
// keras/src/legacy/saving/legacy_h5_format.py for legacy .h5 saves):
//
//	/                          attrs: layer_names  fixed-length byte strings, model.layers order
//	                                  backend, keras_version (byte strings)
//	/<layer>                   one group per layer (also weightless ones), attr weight_names:
//	                           byte strings such as "conv1_conv/kernel:0"; an empty
//	                           (float64, shape [0]) array for layers without weights
//	/<layer>/<weight name>     the dataset; since the weight name holds "/", h5py creates
//	                           the intermediate group: /conv1_conv/conv1_conv/kernel:0
//
// model.save("x.h5") writes the same under /model_weights (plus model_config
// and /optimizer_weights, which are ignored). An attribute above 64512 bytes
// is split by Keras into layer_names0, layer_names1, ...; both forms are read.
// Keras 3's legacy writer uses weight names without ":0" and adds a group
// "top_level_model_weights" (read too when it lists weights).
//
// Tensor names: the ":<n>" suffix is removed, then with L the layer group
// name and W the weight name:
//   - W has no "/" ("kernel"): L/W;
//   - W starts with "L/" ("conv1_conv/kernel", "L/sub/kernel"): W unchanged;
//   - every weight of the layer has the same scope S ("conv1_conv_1/kernel",
//     a scope TensorFlow uniquified): L/<last component of W>;
//   - otherwise the group holds several layers, i.e. a nested model saved as
//     one layer ("resnet50v2" holding "conv1_conv/kernel:0", ...): W
//     unchanged, so the inner layers keep their own names.
//
// Tensors are returned in layer_names order, each layer's in weight_names
// order (BatchNormalization: gamma, beta, moving_mean, moving_variance).
// Keras writes each layer once, in its own group: a layer listed twice in
// layer_names, or two layers sharing one group, is an error.
//
// # Keras 3 (model.save_weights("x.weights.h5"), model.weights.h5 in .keras)
//
// Written by keras/src/saving/saving_lib.py: save_weights_only → _save_state
// → H5IOStore (checked against keras-team/keras master, Aug 2026; the name
// attribute exists since Keras 3.6, commit cbb5ec6 "Upgrade file editor"):
//
//	/vars                            the model's own variables (normally none);
//	                                 attr name = model.name
//	/layers/<key>/vars               one group per layer of model.layers (Functional,
//	                                 Sequential), attr name = layer.name (Keras >= 3.6;
//	                                 older Keras 3 creates only groups of layers that
//	                                 have variables, and sets no attribute)
//	/layers/<key>/vars/0, /1, ...    Layer.save_own_variables: trainable then
//	                                 non-trainable variables, in creation order
//	/layers/functional/layers/...    a nested Functional model (e.g. a ResNet50V2 used as
//	                                 a layer) recurses: its layers sit under its own
//	                                 "layers" container; a layer with sublayers stores
//	                                 them under /layers/<key>/<attribute>/vars
//	/optimizer/vars/..., others      optimizer and metric state: ignored
//
// <key> is not the layer name but saving_lib._save_container_state's
// naming.to_snake_case(class name) made unique per container: conv2d,
// conv2d_1, ..., batch_normalization, batch_normalization_1, dense,
// zero_padding2d, input_layer, functional, ... (Keras 2.13's files used
// "_layer_checkpoint_dependencies" instead of "layers"; read as well).
//
// The layer name is the vars group's "name" attribute, or <key> when it is
// missing (older Keras 3: the caller's weight check will then report
// "conv2d_3/kernel" and the like). The file does not record the layer type,
// so the variables are named by their count and ranks:
//
//	1 variable of rank 4          Conv2D without bias:  kernel
//	2 variables, ranks 4 and 1    Conv2D:               kernel, bias
//	1 variable of rank 2          Dense without bias:   kernel
//	2 variables, ranks 2 and 1    Dense:                kernel, bias
//	4 variables of rank 1, equal  BatchNormalization:   gamma, beta, moving_mean, moving_variance
//
// Any other combination is an error naming the layer; layers without
// variables are skipped. The caller validates the result against the model
// (Weights.Check). Layers are returned in the order their groups were
// written, which is model.layers order, as far as the file tells it: layers
// are sorted by the address of their first variable's data (h5py allocates
// raw data sequentially); layers without variables add no tensors. The
// groups form a tree: a group reached twice (a link back up) is an error.
//
// # Limits
//
// The HDF5 reader bounds what a file can make it allocate (hdf5.Limits):
// a dataset declaring more than its storage holds, or one never written
// beyond a small size, is an error naming the layer and the dataset.
// With headersOnly (ListWeightsFile), no dataset value is read at all.

package runtime

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/rnc-dev/rnc/runtime/hdf5"
)

// IsHDF5 reports whether data carries the HDF5 signature "\x89HDF\r\n\x1a\n"
// at offset 0, 512, 1024, 2048, ...
func IsHDF5(data []byte) bool { return hdf5.FindSignature(data) >= 0 }

// ParseKerasH5 reads a Keras weights file (Keras 2 / tf.keras HDF5 weights,
// a full-model .h5, or a Keras 3 .weights.h5) into rnc's weight names,
// within hdf5.DefaultLimits.
func ParseKerasH5(data []byte) (*Weights, error) {
	return parseKerasH5(data, hdf5.DefaultLimits(), false)
}

// kerasReader collects the tensors of a Keras file.
type kerasReader struct {
	w           *Weights
	headersOnly bool // names and shapes only: no dataset is read
}

// add adds the dataset ds as tensor name; where names the dataset in
// messages.
func (k *kerasReader) add(name string, shape []int, ds *hdf5.Dataset, where string) error {
	if _, dup := k.w.Tensors[name]; dup {
		return fmt.Errorf("keras h5: %s: duplicate tensor %q", where, name)
	}
	if k.headersOnly {
		k.w.Tensors[name] = &Tensor{Name: name, Shape: shape}
		k.w.Order = append(k.w.Order, name)
		return nil
	}
	data, err := ds.Float32()
	if err != nil {
		return fmt.Errorf("keras h5: %s: %w", where, err)
	}
	if err := k.w.Add(name, shape, data); err != nil {
		return fmt.Errorf("keras h5: %s: %w", where, err)
	}
	return nil
}

// parseKerasH5 is ParseKerasH5 with the given limits; with headersOnly, no
// dataset is read (the tensors have shapes but no Data).
func parseKerasH5(data []byte, lim hdf5.Limits, headersOnly bool) (*Weights, error) {
	ws, _, err := readKerasH5(data, lim, headersOnly)
	return ws, err
}

// readKerasH5 is parseKerasH5 that also returns the HDF5 file (for its
// Spent budget).
func readKerasH5(data []byte, lim hdf5.Limits, headersOnly bool) (*Weights, *hdf5.File, error) {
	f, err := hdf5.OpenLimits(data, lim)
	if err != nil {
		return nil, nil, fmt.Errorf("keras h5: %w", err)
	}
	ws, err := (&kerasReader{w: NewWeights(), headersOnly: headersOnly}).read(f)
	return ws, f, err
}

func (k *kerasReader) read(f *hdf5.File) (*Weights, error) {
	root := f.Root()
	if hasAttr(root, "layer_names") {
		return k.keras2(root)
	}
	if root.Has("model_weights") {
		g, err := root.Group("model_weights")
		if err != nil {
			return nil, fmt.Errorf("keras h5: %w", err)
		}
		if hasAttr(g, "layer_names") {
			return k.keras2(g)
		}
	}
	if root.Has("layers") || root.Has("_layer_checkpoint_dependencies") || root.Has("vars") {
		return k.keras3(root)
	}
	return nil, errors.New("keras h5: not a Keras weights file: no layer_names attribute, no /model_weights group and no Keras 3 /layers group")
}

func hasAttr(g *hdf5.Group, name string) bool {
	names, err := g.AttrNames()
	if err != nil {
		return false
	}
	for _, n := range names {
		if n == name || (strings.HasPrefix(n, name) && isDigits(n[len(name):])) {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// kerasStrings reads a Keras string-list attribute, joining the chunks
// name0, name1, ... that Keras writes for attributes above 64512 bytes. An
// empty numeric array (what h5py stores for an empty list) is an empty list.
func kerasStrings(o *hdf5.Object, name string) ([]string, bool, error) {
	read := func(a *hdf5.Attribute) ([]string, error) {
		if !a.IsString() {
			if a.Len() == 0 {
				return nil, nil
			}
			return nil, fmt.Errorf("attribute %q holds %d %s values, not strings", a.Name, a.Len(), a.Type())
		}
		return a.Strings()
	}
	attrs, err := o.Attrs()
	if err != nil {
		return nil, false, err
	}
	byName := map[string]*hdf5.Attribute{}
	for _, a := range attrs {
		byName[a.Name] = a
	}
	if a, ok := byName[name]; ok {
		s, err := read(a)
		return s, true, err
	}
	var out []string
	found := false
	for k := 0; ; k++ {
		a, ok := byName[name+strconv.Itoa(k)]
		if !ok {
			break
		}
		found = true
		s, err := read(a)
		if err != nil {
			return nil, true, err
		}
		out = append(out, s...)
	}
	return out, found, nil
}

func (k *kerasReader) keras2(g *hdf5.Group) (*Weights, error) {
	w := k.w
	w.Metadata["format"] = "keras2-h5"
	for _, key := range []string{"keras_version", "backend"} {
		if s, ok, err := kerasStrings(g.Object, key); err == nil && ok && len(s) == 1 {
			w.Metadata[key] = s[0]
		}
	}
	layers, _, err := kerasStrings(g.Object, "layer_names")
	if err != nil {
		return nil, fmt.Errorf("keras h5: %s: layer_names: %w", g.Path(), err)
	}
	if g.Has("top_level_model_weights") && !contains(layers, "top_level_model_weights") {
		layers = append(layers, "top_level_model_weights")
	}
	// Keras writes each layer once, in its own group: a layer listed twice
	// or two layers sharing a group is a corrupt or crafted file (and
	// would make the reader repeat work the file does not pay for).
	listed := map[string]bool{}
	groups := map[uint64]string{}
	for _, layer := range layers {
		if listed[layer] {
			return nil, fmt.Errorf("keras h5: layer %q is listed twice in layer_names", layer)
		}
		listed[layer] = true
		lg, err := g.Group(layer)
		if err != nil {
			return nil, fmt.Errorf("keras h5: layer %q (listed in layer_names): %w", layer, err)
		}
		if other, ok := groups[lg.Address()]; ok {
			return nil, fmt.Errorf("keras h5: layers %q and %q are the same group", other, layer)
		}
		groups[lg.Address()] = layer
		names, ok, err := kerasStrings(lg.Object, "weight_names")
		if err != nil {
			return nil, fmt.Errorf("keras h5: layer %q: weight_names: %w", layer, err)
		}
		if !ok {
			return nil, fmt.Errorf("keras h5: layer %q: no weight_names attribute", layer)
		}
		common, uniform := commonScope(names)
		for _, wn := range names {
			where := fmt.Sprintf("layer %q dataset %q", layer, wn)
			ds, err := lg.Dataset(wn)
			if err != nil {
				return nil, fmt.Errorf("keras h5: %s: %w", where, err)
			}
			name := keras2NameIn(layer, wn, common, uniform)
			if layer == "top_level_model_weights" {
				name = stripIndex(wn)
			}
			if err := k.add(name, ds.Shape(), ds, where); err != nil {
				return nil, err
			}
		}
	}
	return w, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// stripIndex removes a TensorFlow output index such as ":0".
func stripIndex(name string) string {
	if i := strings.LastIndexByte(name, ':'); i >= 0 && isDigits(name[i+1:]) {
		return name[:i]
	}
	return name
}

func scope(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}

// commonScope returns the scope every name has (after stripIndex), if they
// share one.
func commonScope(all []string) (string, bool) {
	if len(all) == 0 {
		return "", false
	}
	s := scope(stripIndex(all[0]))
	for _, other := range all[1:] {
		if scope(stripIndex(other)) != s {
			return "", false
		}
	}
	return s, true
}

// keras2NameIn maps a Keras 2 weight name to "<layer>/<param>" (rules in
// the file comment), given commonScope of the layer's weight names.
func keras2NameIn(layer, weight, common string, uniform bool) string {
	w := stripIndex(weight)
	if !strings.Contains(w, "/") {
		return layer + "/" + w
	}
	if strings.HasPrefix(w, layer+"/") {
		return w
	}
	if s := scope(w); uniform && s == common {
		return layer + "/" + w[len(s)+1:]
	}
	return w
}

func (k *kerasReader) keras3(root *hdf5.Group) (*Weights, error) {
	k.w.Metadata["format"] = "keras3-weights-h5"
	if root.Has("vars") {
		if err := k.keras3Layer(root, "vars", ""); err != nil {
			return nil, err
		}
	}
	seen := map[uint64]string{root.Address(): root.Path()}
	for _, top := range []string{"layers", "_layer_checkpoint_dependencies"} {
		if !root.Has(top) {
			continue
		}
		g, err := root.Group(top)
		if err != nil {
			return nil, fmt.Errorf("keras h5: %w", err)
		}
		if err := k.keras3Walk(g, 0, seen); err != nil {
			return nil, err
		}
	}
	return k.w, nil
}

// keras3Walk visits the groups below a container in creation order: a
// group with a "vars" child is a saveable (layer), and any other child group
// is a nested container or sublayer. Keras writes a tree: a group reached
// twice (a hard link back up, or two links to one group) is an error, so
// that a crafted file cannot make the walk exponential.
func (k *kerasReader) keras3Walk(g *hdf5.Group, depth int, seen map[uint64]string) error {
	if depth > 64 {
		return fmt.Errorf("keras h5: %s: layers nested too deeply", g.Path())
	}
	if other, ok := seen[g.Address()]; ok {
		return fmt.Errorf("keras h5: %s is the group %s again: not a Keras layer tree", g.Path(), other)
	}
	seen[g.Address()] = g.Path()
	names, err := g.Names()
	if err != nil {
		return fmt.Errorf("keras h5: %w", err)
	}
	type child struct {
		name string
		g    *hdf5.Group
	}
	var kids []child
	for _, n := range names {
		o, err := g.Lookup(n)
		if err != nil {
			return fmt.Errorf("keras h5: %w", err)
		}
		if o.Kind() != hdf5.KindGroup {
			continue
		}
		cg, _ := o.AsGroup()
		kids = append(kids, child{n, cg})
	}
	sort.SliceStable(kids, func(i, j int) bool { return creationKey(kids[i].g) < creationKey(kids[j].g) })
	for _, c := range kids {
		if c.g.Has("vars") {
			if err := k.keras3Layer(c.g, "vars", c.name); err != nil {
				return err
			}
		}
		if err := k.keras3Walk(c.g, depth+1, seen); err != nil {
			return err
		}
	}
	return nil
}

// creationKey approximates the order in which a layer group was written:
// the address of its first variable's data (h5py allocates raw data
// sequentially), else the group's object header address.
func creationKey(g *hdf5.Group) uint64 {
	if d, err := g.Dataset("vars/0"); err == nil {
		if a := d.DataAddress(); a != 0 {
			return a
		}
	}
	return g.Address()
}

func (k *kerasReader) keras3Layer(parent *hdf5.Group, varsName, key string) error {
	vg, err := parent.Group(varsName)
	if err != nil {
		return fmt.Errorf("keras h5: %s: %w", parent.Path(), err)
	}
	names, err := vg.Names()
	if err != nil {
		return fmt.Errorf("keras h5: %s: %w", vg.Path(), err)
	}
	layer := key
	if s, ok, err := kerasStrings(vg.Object, "name"); err == nil && ok && len(s) == 1 && s[0] != "" {
		layer = s[0]
	}
	if len(names) == 0 {
		return nil
	}
	type variable struct {
		shape []int
		ds    *hdf5.Dataset
		path  string
	}
	vars := make([]variable, len(names))
	seen := make([]bool, len(names))
	for _, n := range names {
		i, err := strconv.Atoi(n)
		if err != nil || i < 0 || i >= len(names) || seen[i] || strconv.Itoa(i) != n {
			return fmt.Errorf("keras h5: layer %q (%s): unexpected member %q (want variables 0..%d)", layer, vg.Path(), n, len(names)-1)
		}
		seen[i] = true
		ds, err := vg.Dataset(n)
		if err != nil {
			return fmt.Errorf("keras h5: layer %q dataset %s/%s: %w", layer, vg.Path(), n, err)
		}
		vars[i] = variable{ds.Shape(), ds, vg.Path() + "/" + n}
	}
	params, err := keras3Params(vars[0].shape, len(vars), func(i int) []int { return vars[i].shape })
	if err != nil {
		return fmt.Errorf("keras h5: layer %q (%s): %w", layer, vg.Path(), err)
	}
	for i, v := range vars {
		if err := k.add(layer+"/"+params[i], v.shape, v.ds, fmt.Sprintf("layer %q dataset %s", layer, v.path)); err != nil {
			return err
		}
	}
	return nil
}

// keras3Params names positional Keras 3 variables from their count and ranks.
func keras3Params(first []int, n int, shape func(int) []int) ([]string, error) {
	ranks := make([]int, n)
	var shapes []string
	for i := range ranks {
		ranks[i] = len(shape(i))
		shapes = append(shapes, fmt.Sprint(shape(i)))
	}
	switch {
	case n == 1 && ranks[0] == 4:
		return []string{"kernel"}, nil
	case n == 2 && ranks[0] == 4 && ranks[1] == 1:
		return []string{"kernel", "bias"}, nil
	case n == 1 && ranks[0] == 2:
		return []string{"kernel"}, nil
	case n == 2 && ranks[0] == 2 && ranks[1] == 1:
		return []string{"kernel", "bias"}, nil
	case n == 4 && ranks[0] == 1 && ranks[1] == 1 && ranks[2] == 1 && ranks[3] == 1 &&
		shape(1)[0] == first[0] && shape(2)[0] == first[0] && shape(3)[0] == first[0]:
		return []string{"gamma", "beta", "moving_mean", "moving_variance"}, nil
	}
	return nil, fmt.Errorf("cannot tell the layer type of %d variables with shapes %s (supported: Conv2D, Dense, BatchNormalization)",
		n, strings.Join(shapes, ", "))
}
