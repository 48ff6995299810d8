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
}
