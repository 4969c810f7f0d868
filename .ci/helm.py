#!/usr/bin/env python3
"""The Helm chart in deploy/chart, rendered and linted by Helm's own Go SDK (Helm v4, through
PyPI's helm-python-sdk; no helm binary, no cluster).

    python3 .ci/helm.py lint             # helm lint --strict, with each configuration's values
    python3 .ci/helm.py render DIR       # DIR/<configuration>.yaml: CRDs and templates, one file each
    python3 .ci/helm.py refuse           # wrong values are refused by values.schema.json, clearly
    python3 .ci/helm.py args             # JSON: the scalerd arguments each configuration renders
    python3 .ci/helm.py rbac CONFIG      # JSON: what a configuration's RBAC grants, by namespace
    python3 .ci/helm.py generate         # write deploy/*.yaml from the chart (deploy/values.yaml)
    python3 .ci/helm.py check            # fail if deploy/*.yaml differ from a fresh render

The chart is the one source of the manifests: deploy/{rbac,configmap,deployment,service}.yaml
are rendered from it with deploy/values.yaml (release `scalerd` in namespace `scalers`), and
deploy/kustomization.yaml takes the CRDs from deploy/chart/crds/. `.ci/run` runs every command
but `generate` and `rbac`; scalerd/tests/packaging.rs runs `args`, `rbac` and `check`.
"""

from __future__ import annotations

import difflib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "chart"
NAMESPACE = "scalers"

try:
    import helm_python as helm
except ImportError:
    sys.exit(
        "helm-python-sdk is not installed: python3 -m pip install helm-python-sdk==0.2.2 "
        "(.ci/run installs it)"
    )


def configurations() -> dict[str, dict]:
    """The values of each configuration: the chart's defaults, then each deploy/chart/ci file."""
    out = {"default": {}}
    for path in sorted((CHART / "ci").glob("*-values.yaml")):
        out[path.name.removesuffix("-values.yaml")] = helm.values_from_yaml(path.read_text())
    return out


def documents(text: str) -> list[dict]:
    """The YAML documents of one rendered template, parsed by Helm's YAML reader."""
    out = []
    for part in ("\n" + text).split("\n---\n"):
        doc = helm.values_from_yaml(part)
        if doc:
            out.append(doc)
    return out


def render(values: dict, release: str = "scalers") -> dict[str, str]:
    """Template file name (`deployment.yaml`) -> rendered text, empty renders left out."""
    chart = helm.Chart.load(CHART)
    rendered = chart.render(values=values, name=release, namespace=NAMESPACE, is_install=True)
    out = {}
    for path, text in rendered.items():
        name = path.split("/templates/", 1)[1]
        if name.endswith(".yaml") and text.strip():
            out[name] = text.strip() + "\n"
    return out


def crds() -> str:
    chart = helm.Chart.load(CHART)
    return "".join(
        "---\n" + c["data"].strip() + "\n" for c in sorted(chart.crds, key=lambda c: c["filename"])
    )


def check_consistency(config: str, rendered: dict[str, str]) -> None:
    """What kubernetes-validate cannot see: the Service selects the Deployment's pods and names
    its port, the ServiceMonitor (a CRD's kind, unknown to the validator) selects the Service."""
    docs = [d for text in rendered.values() for d in documents(text)]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    deployment = by_kind["Deployment"][0]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    port_names = {p["name"] for p in container["ports"]}
    service = by_kind["Service"][0]
    problems = []
    for k, v in service["spec"]["selector"].items():
        if pod_labels.get(k) != v:
            problems.append(f"Service selector {k}={v} does not select the pods")
    for p in service["spec"]["ports"]:
        if p["targetPort"] not in port_names:
            problems.append(f"Service targetPort {p['targetPort']} is not a container port")
    for sm in by_kind.get("ServiceMonitor", []):
        labels = service["metadata"]["labels"]
        for k, v in sm["spec"]["selector"]["matchLabels"].items():
            if labels.get(k) != v:
                problems.append(f"ServiceMonitor selector {k}={v} does not select the Service")
        service_ports = {p["name"] for p in service["spec"]["ports"]}
        for e in sm["spec"]["endpoints"]:
            if e["port"] not in service_ports:
                problems.append(f"ServiceMonitor port {e['port']} is not a port of the Service")
        if sm["spec"]["namespaceSelector"]["matchNames"] != [service["metadata"]["namespace"]]:
            problems.append("ServiceMonitor does not look in the Service's namespace")
    if problems:
        sys.exit(f"{config}: " + "; ".join(problems))


def cmd_lint() -> None:
    failed = False
    for config, values in configurations().items():
        report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
        # severity 1 is info ("icon is recommended"); 2 warning, 3 error.
        findings = [m for m in report["messages"] if m["severity"] >= 2] + [
            {"severity": 3, "path": "", "error": e} for e in report["errors"]
        ]
        for m in findings:
            print(f"helm lint ({config}): {m['path']}: {m['error']}")
        failed |= bool(findings)
        print(f"helm lint ({config}): {len(findings)} warnings or errors")
    if failed:
        sys.exit(1)


def grants(docs: list[dict]) -> list[dict]:
    """What the RBAC objects grant, as the authorizer sees it: each rule of each bound role with
    the namespace it applies in (`None`: every namespace, through a ClusterRoleBinding)."""
    roles = {}
    for d in docs:
        if d["kind"] in ("ClusterRole", "Role"):
            roles[(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace"))] = d["rules"]
    out = []
    for d in docs:
        if d["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        ns = d["metadata"].get("namespace") if d["kind"] == "RoleBinding" else None
        ref = d["roleRef"]
        role_ns = ns if ref["kind"] == "Role" else None
        for rule in roles[(ref["kind"], ref["name"], role_ns)]:
            out.append({"namespace": ns, **rule})
    return sorted(out, key=json.dumps)


def rendered_grants(rendered: dict[str, str]) -> list[dict]:
    return grants(documents(rendered.get("rbac.yaml", "")))


def check_rules(config: str, values: dict, rendered: dict[str, str]) -> None:
    """A configuration that sees every namespace grants what deploy/rbac.yaml grants, the RBAC
    that scalerd/tests/packaging.rs checks against a running daemon (sharding adds list and
    delete on Leases); one with watchNamespaces is checked by that test itself (`rbac`)."""
    if values.get("watchNamespaces"):
        return
    tested = grants(documents((ROOT / "deploy" / "rbac.yaml").read_text()))
    if values.get("sharding", {}).get("enabled"):
        for g in tested:
            if g["resources"] == ["leases"]:
                g["verbs"] = ["get", "list", "create", "update", "delete"]
    if rendered_grants(rendered) != sorted(tested, key=json.dumps):
        sys.exit(f"{config}: the RBAC differs from deploy/rbac.yaml's: {rendered_grants(rendered)}")


def cmd_rbac(config: str) -> None:
    print(json.dumps(rendered_grants(render(configurations()[config])), indent=2))


def cmd_render(out_dir: str) -> None:
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for config, values in configurations().items():
        rendered = render(values)
        check_consistency(config, rendered)
        check_rules(config, values, rendered)
        text = crds() + "".join("---\n" + rendered[name] for name in sorted(rendered))
        path = out / f"{config}.yaml"
        path.write_text(text)
        kinds = [d["kind"] for t in rendered.values() for d in documents(t)]
        print(f"{path}: CRDs and {len(kinds)} objects: {', '.join(sorted(kinds))}")


# Values the schema must refuse, and what the message must say.
REFUSED = [
    ({"mode": "files"}, "at '/mode': value must be one of 'cluster', 'file'"),
    ({"replicas": 3}, "additional properties 'replicas' not allowed"),
    (
        {"replicaCount": 3, "leaderElection": {"enabled": False}},
        "at '/leaderElection/enabled': value must be true",
    ),
    ({"mode": "file"}, "at '/config': minProperties: got 0, want 1"),
    (
        {"mode": "file", "config": {"scaledObjects": []}, "watchNamespaces": ["shop"]},
        "at '/watchNamespaces': maxItems: got 1, want 0",
    ),
    ({"watchNamespaces": ["Shop"]}, "at '/watchNamespaces/0': 'Shop' does not match pattern"),
    ({"kubeApi": {"qps": -1}}, "at '/kubeApi/qps': minimum: got -1, want 0"),
    ({"kubeApi": {"burst": 0}}, "at '/kubeApi/burst': minimum: got 0, want 1"),
    ({"logLevel": "verbose"}, "at '/logLevel': 'verbose' does not match pattern"),
    ({"image": {"repository": "scalerd", "pullPolicy": "Sometimes"}}, "at '/image/pullPolicy'"),
    ({"resources": {"requests": {"memory": "lots"}}}, "at '/resources/requests/memory'"),
    ({"extraEnv": [{"name": "RUST_LOG", "value": "debug"}]}, "at '/extraEnv/0/name'"),
    ({"serviceMonitor": {"enabled": "yes"}}, "at '/serviceMonitor/enabled': got string, want boolean"),
    (
        {"rbac": {"extraClusterRules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["delete"]}]}},
        "at '/rbac/extraClusterRules/0/verbs/0': value must be one of",
    ),
]


def cmd_refuse() -> None:
    chart = helm.Chart.load(CHART)
    failed = False
    for values, expected in REFUSED:
        try:
            chart.render(values=values, name="scalers", namespace=NAMESPACE)
            print(f"refuse: {json.dumps(values)}: rendered, but the schema should refuse it")
            failed = True
        except helm.HelmValuesError as e:
            if expected not in str(e):
                print(f"refuse: {json.dumps(values)}: message lacks {expected!r}:\n{e}")
                failed = True
    print(f"refuse: {len(REFUSED)} wrong values, {'not all' if failed else 'all'} refused clearly")
    if failed:
        sys.exit(1)


def cmd_args() -> None:
    out = {}
    for config, values in configurations().items():
        for d in documents(render(values)["deployment.yaml"]):
            out[config] = d["spec"]["template"]["spec"]["containers"][0]["args"]
    print(json.dumps(out, indent=2))


# deploy/ file -> the chart's templates it holds.
DEPLOY_FILES = {
    "rbac.yaml": ["serviceaccount.yaml", "rbac.yaml"],
    "configmap.yaml": ["configmap.yaml"],
    "deployment.yaml": ["deployment.yaml"],
    "service.yaml": ["service.yaml"],
}
HEADER = (
    "# Rendered from deploy/chart with deploy/values.yaml by `python3 .ci/helm.py generate`:\n"
    "# edit the chart, not this file (`.ci/helm.py check` fails on any difference).\n"
)


def deploy_manifests() -> dict[str, str]:
    values = helm.values_from_yaml((ROOT / "deploy" / "values.yaml").read_text())
    rendered = render(values, release="scalerd")
    used = {t for ts in DEPLOY_FILES.values() for t in ts}
    extra = sorted(set(rendered) - used)
    if extra:
        sys.exit(f"deploy/values.yaml renders {extra}, which no deploy/ file holds: add to DEPLOY_FILES")
    return {
        name: HEADER + "---\n".join(rendered[t] for t in templates if t in rendered)
        for name, templates in DEPLOY_FILES.items()
    }


def cmd_generate() -> None:
    for name, text in deploy_manifests().items():
        (ROOT / "deploy" / name).write_text(text)
        print(f"wrote deploy/{name}")


def cmd_check() -> None:
    drift = []
    for name, text in deploy_manifests().items():
        path = ROOT / "deploy" / name
        committed = path.read_text() if path.exists() else ""
        if committed != text:
            drift.extend(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    f"deploy/{name} (committed)",
                    f"deploy/{name} (rendered from deploy/chart)",
                )
            )
    if drift:
        sys.stdout.writelines(drift)
        sys.exit("deploy/ differs from the chart: run `python3 .ci/helm.py generate` and commit")
    print(f"deploy/: {len(DEPLOY_FILES)} files equal a fresh render of deploy/chart")


def main() -> None:
    commands = {
        "lint": cmd_lint,
        "refuse": cmd_refuse,
        "args": cmd_args,
        "generate": cmd_generate,
        "check": cmd_check,
    }
    if len(sys.argv) == 3 and sys.argv[1] == "render":
        cmd_render(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "rbac":
        cmd_rbac(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] in commands:
        commands[sys.argv[1]]()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
