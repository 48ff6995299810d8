package routing

// Hardware is what an endpoint has to compute with.
type Hardware struct {
	CPUs        int    `cbor:"cpus" json:"cpus" yaml:"cpus"`
	CPUModel    string `cbor:"cpu_model,omitempty" json:"cpu_model,omitempty" yaml:"cpu_model,omitempty"`
	MemoryBytes uint64 `cbor:"memory_bytes" json:"memory_bytes" yaml:"memory_bytes"`
	Arch        string `cbor:"arch" json:"arch" yaml:"arch"`
	OS          string `cbor:"os" json:"os" yaml:"os"`
	GPUs        []GPU  `cbor:"gpus,omitempty" json:"gpus" yaml:"gpus"`
}

// GPU is one accelerator device.
type GPU struct {
	Model       string `cbor:"model" json:"model" yaml:"model"`
	MemoryBytes uint64 `cbor:"memory_bytes" json:"memory_bytes" yaml:"memory_bytes"`
}

// Software is what an endpoint can run functions with.
type Software struct {
	// Python lists the versions of the Python interpreters found ("3.11.7").
	Python []string `cbor:"python,omitempty" json:"python" yaml:"python"`
	// PythonPaths lists the interpreters' paths, in the order of Python.
	PythonPaths []string `cbor:"python_paths,omitempty" json:"python_paths,omitempty" yaml:"python_paths,omitempty"`
	// Containers lists container runtimes found ("docker", "podman", "apptainer").
	Containers []string `cbor:"containers,omitempty" json:"containers" yaml:"containers"`
	// Scheduler is the batch scheduler found ("slurm", "pbs") or "".
	Scheduler string `cbor:"scheduler,omitempty" json:"scheduler" yaml:"scheduler"`
	// Images lists the container images the endpoint's runtime holds, as
	// the runtime names them ("busybox:latest", "localhost/x/y:1"): at most
	// MaxImages, each a require word of at most MaxImageBytes. The node
	// lists them each time it signs its record; they are not configured.
	Images []string `cbor:"images,omitempty" json:"images,omitempty" yaml:"-"`
	// PullImages says the endpoint's runtime may pull an image it does not
	// hold, so that it can run any image. False by default.
	PullImages bool `cbor:"pull_images,omitempty" json:"pull_images,omitempty" yaml:"-"`
	// Modules lists the Python distributions importable by the interpreter
	// the endpoint's Python workers run, as importlib.metadata lists them:
	// each name normalised (require.NormalizeModule), sorted by name, once
	// each; at most MaxModules, within MaxModulesBytes. The node lists them
	// when it starts; they are not configured.
	Modules []Module `cbor:"modules,omitempty" json:"modules,omitempty" yaml:"-"`
}

// Module is a Python distribution an endpoint's workers can import: its
// name, normalised (require.NormalizeModule), and its version as its
// metadata writes it ("1.26.4", "2.0.0rc1"; "" when it has none). It is
// encoded as the array [name, version].
type Module struct {
	_       struct{} `cbor:",toarray"`
	Name    string   `json:"name"`
	Version string   `json:"version"`
}

// Bounds of Software.Images: with 256 names of 128 bytes (33 KB encoded),
// a record stays well within MaxRecordBytes.
const (
	MaxImages     = 256
	MaxImageBytes = 128
)

// Bounds of Software.Modules: at most MaxModules distributions, each name
// of at most require.MaxModuleName bytes and version of at most
// MaxModuleVersion, names and versions together at most MaxModulesBytes.
// A Python environment with a few hundred packages fits; with MaxImages
// images and the function allowlist's bounds, a record stays within
// MaxRecordBytes.
const (
	MaxModules       = 1024
	MaxModuleVersion = 64
	MaxModulesBytes  = 16 << 10
)
