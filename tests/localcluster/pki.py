"""Certificates and keys of one run, made with the openssl CLI (valid two days, EC P-256).

A run makes its own CA: nothing it signs is trusted anywhere else, and it is deleted with
the run directory.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from tests.localcluster.progress import sh
from tests.localcluster.render import CLUSTER_DOMAIN, IDENTITIES, Plan

DAYS = "2"
EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Pki:
    root: Path

    def file(self, name: str) -> Path:
        return self.root / name

    @property
    def ca(self) -> Path:
        return self.file("ca.crt")

    @property
    def front_proxy_ca(self) -> Path:
        return self.file("front-proxy-ca.crt")


def _ca(pki: Pki, name: str) -> None:
    sh(
        [
            "openssl", "req", "-x509", *EC, "-days", DAYS, "-subj", f"/CN=rqs-{name}",
            "-keyout", str(pki.file(f"{name}.key")), "-out", str(pki.file(f"{name}.crt")),
        ]
    )  # fmt: skip


def _leaf(pki: Pki, ca: str, name: str, subject: str, extensions: str) -> None:
    csr = pki.file(f"{name}.csr")
    ext = pki.file(f"{name}.ext")
    ext.write_text(extensions + "\n", encoding="utf-8")
    sh(
        [
            "openssl", "req", "-new", *EC, "-subj", subject,
            "-keyout", str(pki.file(f"{name}.key")), "-out", str(csr),
        ]
    )  # fmt: skip
    sh(
        [
            "openssl", "x509", "-req", "-in", str(csr), "-days", DAYS,
            "-CA", str(pki.file(f"{ca}.crt")), "-CAkey", str(pki.file(f"{ca}.key")),
            "-CAcreateserial", "-extfile", str(ext), "-out", str(pki.file(f"{name}.crt")),
        ]
    )  # fmt: skip


def apiserver_names(plan: Plan) -> str:
    dns = ["kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    dns.append(f"kubernetes.default.svc.{CLUSTER_DOMAIN}")
    ips = [plan.node_ip, plan.kubernetes_service_ip, "127.0.0.1"]
    return ",".join([*(f"DNS:{d}" for d in dns), *(f"IP:{i}" for i in ips)])


def make_pki(plan: Plan) -> tuple[Pki, dict[str, str]]:
    """The CA, the API server's serving cert, the front proxy's, the SA keys; the tokens."""
    pki = Pki(plan.path("pki"))
    pki.root.mkdir(parents=True, exist_ok=True)
    pki.root.chmod(0o700)
    _ca(pki, "ca")
    _ca(pki, "front-proxy-ca")
    _leaf(
        pki,
        "ca",
        "apiserver",
        "/CN=kube-apiserver",
        f"subjectAltName={apiserver_names(plan)}\nextendedKeyUsage=serverAuth",
    )
    # The API server's identity towards the kubelet (logs, exec, port-forward); the kubelet
    # authorizes it by asking the API server (webhook), which knows system:masters.
    _leaf(
        pki,
        "ca",
        "apiserver-kubelet-client",
        "/O=system:masters/CN=kube-apiserver-kubelet-client",
        "extendedKeyUsage=clientAuth",
    )
    # The aggregator proxies external.metrics.k8s.io to the adapter with this identity.
    _leaf(
        pki,
        "front-proxy-ca",
        "front-proxy-client",
        "/CN=front-proxy-client",
        "extendedKeyUsage=clientAuth",
    )
    sh(
        [
            "openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-out", str(pki.file("sa.key")),
        ]
    )  # fmt: skip
    sh(
        [
            "openssl",
            "pkey",
            "-in",
            str(pki.file("sa.key")),
            "-pubout",
            "-out",
            str(pki.file("sa.pub")),
        ]
    )
    tokens = {ident.name: secrets.token_hex(24) for ident in IDENTITIES}
    return pki, tokens
