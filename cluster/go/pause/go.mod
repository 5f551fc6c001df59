// The pod sandbox ("pause") binary of the local test cluster's own pause image: containerd
// needs a sandbox image, and the public one (registry.k8s.io/pause) is not reachable here.
module redis-queue-stack/cluster/pause

go 1.24.0
