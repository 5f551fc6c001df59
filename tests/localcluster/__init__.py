"""A real single-node Kubernetes for tests/e2e on machines without Docker.

Everything the cluster needs is built from the package registries (Kubernetes, etcd, CoreDNS
and the monitoring prerequisites from their Go modules; containerd, runc, CNI, buildah and
the registry from Debian) and kept in a cache outside the clone, so a second run only starts
processes. The cluster lives in a network namespace of its own: its bridge, kube-proxy's
rules, forwarding and CoreDNS exist only there and vanish with it, and that namespace has no
uplink, so nothing a pod sends can leave the machine. ``python -m tests.localcluster --help``
lists the commands.
"""
