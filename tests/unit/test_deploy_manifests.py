"""The deployment files (docker/, docker-compose.yml, k8s/) against the model roster and the grid's
contracts, offline.

Each overlay is rendered with kustomize and checked for what matters: every models/*.yaml has
exactly one worker pool pinned to its queue model.<id> with the GPUs its spec asks for, a readiness
probe that waits for the model, a grace period longer than a shard, read-only weights and
datasets, a KEDA ScaledObject and a PodDisruptionBudget; the containers run the same
`medgrid serve ...` commands the e2e tests start. The validators (hadolint, docker-compose
config, kubernetes-validate --strict, the KEDA CRD schema) run here too: a missing validator is a
failure that names its install command, never a skip (scripts/validate-manifests.sh installs them).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = ROOT / "models"
COMPOSE_FILE = ROOT / "docker-compose.yml"
OVERLAYS = ("dev", "prod")
NAMESPACE = "medgrid"
GPU = "nvidia.com/gpu"
SECRET_NAME = "medgrid-secrets"


def _load_validator():
    spec = importlib.util.spec_from_file_location("validate_manifests", ROOT / "scripts" / "validate_manifests.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


vm = _load_validator()


def _tool(call):
    """Run a validator call; a missing tool fails the test with its install command."""
    try:
        return call()
    except vm.ToolMissing as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


# ---- the roster -------------------------------------------------------------------------------

def _specs() -> dict[str, dict]:
    specs = {}
    for path in sorted(MODELS_DIR.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        specs[spec["id"]] = spec
    return specs


SPECS = _specs()


def test_roster_specs_are_usable_as_pool_names():
    assert len(SPECS) >= 12, f"expected the 12-model roster in {MODELS_DIR}, found {sorted(SPECS)}"
    for model_id, spec in SPECS.items():
        assert (MODELS_DIR / f"{model_id}.yaml").exists(), f"models/{model_id}.yaml: file name and id differ"
        assert re.fullmatch(r"[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?", model_id), (
            f"{model_id}: a model id must be a valid label value (it labels and names its pool)")
        assert isinstance(spec.get("gpus"), int) and spec["gpus"] >= 1, f"{model_id}: gpus must be >= 1"


# ---- rendered Kubernetes objects --------------------------------------------------------------

@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: vm.load_all(_tool(lambda name=name: vm.render(name))) for name in OVERLAYS}


def _of(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def _one(docs, kind, name):
    found = _of(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _component(doc) -> str | None:
    return doc["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")


def _workers(docs) -> list[dict]:
    return [d for d in _of(docs, "Deployment") if _component(d) == "worker"]


def _pod_spec(doc) -> dict:
    return doc["spec"]["template"]["spec"]


def _container(doc) -> dict:
    containers = _pod_spec(doc)["containers"]
    assert len(containers) == 1, f"{doc['metadata']['name']}: expected one container"
    return containers[0]


def _env_value(container: dict, pod_labels: dict, name: str) -> str | None:
    for env in container.get("env") or []:
        if env["name"] != name:
            continue
        if "value" in env:
            return env["value"]
        field = ((env.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath", "")
        match = re.fullmatch(r"metadata\.labels\['([^']+)'\]", field)
        assert match, f"env {name}: unsupported valueFrom {env.get('valueFrom')}"
        return pod_labels.get(match.group(1))
    return None


def _command(doc) -> list[str]:
    """The container's argv as the kubelet runs it: command + args with $(VAR) expanded."""
    container = _container(doc)
    labels = doc["spec"]["template"]["metadata"]["labels"]
    argv = list(container.get("command") or []) + list(container.get("args") or [])

    def expand(arg: str) -> str:
        def sub(match):
            value = _env_value(container, labels, match.group(1))
            assert value is not None, f"{doc['metadata']['name']}: $({match.group(1)}) is not defined"
            return value
        return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", sub, arg)

    return [expand(a) for a in argv]


def _model_of(doc) -> str:
    return doc["spec"]["template"]["metadata"]["labels"].get("medgrid.io/model")


def _config(docs) -> dict[str, str]:
    maps = [d for d in _of(docs, "ConfigMap") if d["metadata"]["name"].startswith("medgrid-config")]
    assert len(maps) == 1, "expected one medgrid-config ConfigMap"
    return maps[0]["data"]


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_model_has_exactly_one_worker_pool(rendered, overlay):
    pools: dict[str, list[str]] = {}
    for doc in _workers(rendered[overlay]):
        pools.setdefault(_model_of(doc), []).append(doc["metadata"]["name"])
    assert set(pools) == set(SPECS), (
        f"{overlay}: worker pools without a spec: {sorted(set(pools) - set(SPECS))}; "
        f"specs without a pool: {sorted(set(SPECS) - set(pools))} (run scripts/add-worker-pool.py)")
    doubles = {m: names for m, names in pools.items() if len(names) != 1}
    assert not doubles, f"{overlay}: models with more than one pool: {doubles}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_runs_medgrid_serve_worker_pinned_to_its_model(rendered, overlay):
    for doc in _workers(rendered[overlay]):
        model_id = _model_of(doc)
        assert _command(doc) == ["medgrid", "serve", "worker", "--model", model_id], doc["metadata"]["name"]
        container = _container(doc)
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert _env_value(container, labels, "MEDGRID_MODEL") == model_id
        assert doc["spec"]["selector"]["matchLabels"].get("medgrid.io/model") == model_id, (
            f"{doc['metadata']['name']}: the selector must include medgrid.io/model, or pools would adopt each other's pods")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_gpu_limits_match_the_spec(rendered, overlay):
    for doc in _workers(rendered[overlay]):
        spec = SPECS[_model_of(doc)]
        resources = _container(doc).get("resources") or {}
        limit = (resources.get("limits") or {}).get(GPU)
        assert limit is not None and int(limit) == spec["gpus"], (
            f"{doc['metadata']['name']}: {GPU} limit {limit!r}, models/{spec['id']}.yaml says gpus: {spec['gpus']}")
        request = (resources.get("requests") or {}).get(GPU)
        assert request is None or int(request) == spec["gpus"], f"{doc['metadata']['name']}: GPU request != limit"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_pods_land_on_gpu_nodes(rendered, overlay):
    for doc in _workers(rendered[overlay]):
        pod = _pod_spec(doc)
        assert any(k.startswith("nvidia.com/") for k in (pod.get("nodeSelector") or {})), doc["metadata"]["name"]
        assert any(t.get("key") == GPU and t.get("effect") == "NoSchedule" for t in pod.get("tolerations") or []), (
            f"{doc['metadata']['name']}: no toleration for the {GPU} taint")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_is_ready_only_once_its_model_is_loaded(rendered, overlay):
    for doc in _workers(rendered[overlay]):
        container = _container(doc)
        labels = doc["spec"]["template"]["metadata"]["labels"]
        probe = container.get("readinessProbe") or {}
        command = " ".join((probe.get("exec") or {}).get("command") or [])
        ready_file = _env_value(container, labels, "MEDGRID_READY_FILE")
        assert ready_file, f"{doc['metadata']['name']}: MEDGRID_READY_FILE is not set"
        assert re.search(r"test -f \"?(\$MEDGRID_READY_FILE|\$\{MEDGRID_READY_FILE\}|%s)\"?" % re.escape(ready_file),
                         command), f"{doc['metadata']['name']}: readiness probe {command!r} does not test the ready file"
        # A liveness probe would kill pods that are loading a large model or finishing a shard.
        assert "livenessProbe" not in container, f"{doc['metadata']['name']}: workers have no liveness probe"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grace_periods_outlast_a_shard(rendered, overlay):
    docs = rendered[overlay]
    lease = float(_config(docs)["MEDGRID_LEASE_SECONDS"])
    for doc in _workers(docs):
        grace = _pod_spec(doc).get("terminationGracePeriodSeconds")
        assert grace is not None and grace > lease, (
            f"{doc['metadata']['name']}: terminationGracePeriodSeconds {grace} must exceed a shard "
            f"(MEDGRID_LEASE_SECONDS={lease:g}) so the warm shutdown can finish it")
    scoring = _one(docs, "Deployment", "medgrid-scoring")
    assert _pod_spec(scoring).get("terminationGracePeriodSeconds", 30) >= 300


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_weights_and_datasets_are_mounted_read_only(rendered, overlay):
    for doc in _of(rendered[overlay], "Deployment"):
        if _component(doc) not in {"worker", "api", "scoring"}:
            continue
        pod, container = _pod_spec(doc), _container(doc)
        mounts = {m["mountPath"]: m for m in container.get("volumeMounts") or []}
        wanted = ["/data"] + (["/models"] if _component(doc) == "worker" else [])
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        for path in wanted:
            assert path in mounts, f"{doc['metadata']['name']}: nothing mounted at {path}"
            assert mounts[path].get("readOnly") is True, f"{doc['metadata']['name']}: {path} must be readOnly"
            volume = volumes[mounts[path]["name"]]
            claim = volume.get("persistentVolumeClaim")
            assert claim is None or claim.get("readOnly") is True, f"{doc['metadata']['name']}: claim for {path} not readOnly"
            assert claim is not None or "hostPath" in volume, f"{doc['metadata']['name']}: {path} has no data source"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pool_scales_on_its_queue_with_keda(rendered, overlay):
    docs = rendered[overlay]
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in _of(docs, "ScaledObject")}
    assert len(scaled) == len(_of(docs, "ScaledObject")), "two ScaledObjects target the same Deployment"
    workers = _workers(docs)
    assert set(scaled) == {d["metadata"]["name"] for d in workers}, "one ScaledObject per worker pool, no more"
    for doc in workers:
        name, model_id = doc["metadata"]["name"], _model_of(doc)
        so = scaled[name]["spec"]
        assert so.get("minReplicaCount") == 0, f"{name}: minReplicaCount must be 0 (idle pools free their GPUs)"
        assert so.get("maxReplicaCount", 0) >= 1
        assert so["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
        [trigger] = so["triggers"]
        assert trigger["type"] == "redis"
        meta = trigger["metadata"]
        assert meta["listName"] == f"model.{model_id}", f"{name}: scales on {meta['listName']}, its queue is model.{model_id}"
        assert "replicas" not in doc["spec"], f"{name}: KEDA owns the replica count"
        env_name = meta.get("addressFromEnv")
        if env_name:  # KEDA reads it from the worker container's environment
            sources = [s.get("secretRef", {}).get("name", "") for s in _container(doc).get("envFrom") or []]
            assert any(s.startswith(SECRET_NAME) for s in sources), f"{name}: {env_name} comes from no Secret"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pool_and_service_has_a_disruption_budget(rendered, overlay):
    docs = rendered[overlay]
    pdbs = _of(docs, "PodDisruptionBudget")
    deployments = [d for d in _of(docs, "Deployment") if _component(d) in {"worker", "api", "scoring"}]
    for doc in deployments:
        labels = doc["spec"]["template"]["metadata"]["labels"]
        matching = [p for p in pdbs if _selects(p["spec"]["selector"], labels)]
        assert len(matching) == 1, f"{doc['metadata']['name']}: {len(matching)} PodDisruptionBudgets select its pods"
        assert "minAvailable" not in matching[0]["spec"] or _component(doc) != "worker", (
            "a worker pool scales to zero: use maxUnavailable so it never blocks a drain")
    for pdb in pdbs:  # and no budget selects pods of two pools
        owners = [d["metadata"]["name"] for d in deployments
                  if _selects(pdb["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
        assert len(owners) == 1, f"{pdb['metadata']['name']} selects {owners}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_run_the_medgrid_commands(rendered, overlay):
    docs = rendered[overlay]
    expected = {"medgrid-api": ["medgrid", "serve", "api"],
                "medgrid-scoring": ["medgrid", "serve", "scoring"],
                "medgrid-sweeper": ["medgrid", "serve", "sweeper"]}
    for name, argv in expected.items():
        doc = _one(docs, "Deployment", name)
        assert _command(doc) == argv, name
        assert "/worker" not in _container(doc)["image"], f"{name} runs the slim image, not the torch one"
    job = _one(docs, "Job", "medgrid-migrate")
    assert _command(job) == ["medgrid", "db", "upgrade"]
    for doc in _workers(docs):
        assert "/worker" in _container(doc)["image"] or _container(doc)["image"].startswith("medgrid/worker")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_probes_service_ingress_and_autoscaler(rendered, overlay):
    docs = rendered[overlay]
    api = _one(docs, "Deployment", "medgrid-api")
    container = _container(api)
    ports = {p.get("name"): p["containerPort"] for p in container["ports"]}
    assert ports.get("http") == 8000
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "replicas" not in api["spec"], "the HPA owns the API's replica count"
    service = _one(docs, "Service", "medgrid-api")
    assert service["spec"]["selector"] and all(
        api["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in service["spec"]["selector"].items())
    assert any(p.get("targetPort") in ("http", 8000) for p in service["spec"]["ports"])
    ingress = _one(docs, "Ingress", "medgrid-api")
    backends = [p["backend"]["service"]["name"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
    assert backends and set(backends) == {"medgrid-api"}
    hpa = _one(docs, "HorizontalPodAutoscaler", "medgrid-api")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "medgrid-api"}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert container["resources"]["requests"].get("cpu"), "an HPA on CPU needs a CPU request"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_as_non_root_and_references_resolve(rendered, overlay):
    docs = rendered[overlay]
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    medgrid_pods = [d for d in docs if d["kind"] in {"Deployment", "Job"} and
                    d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/name") == "medgrid"]
    assert medgrid_pods
    for doc in medgrid_pods:
        pod = _pod_spec(doc)
        # the "restricted" Pod Security Standard, which the prod namespace enforces
        assert pod["securityContext"].get("runAsNonRoot") is True, doc["metadata"]["name"]
        assert pod["securityContext"].get("seccompProfile", {}).get("type") == "RuntimeDefault"
        context = _container(doc)["securityContext"]
        assert context.get("allowPrivilegeEscalation") is False and context["capabilities"]["drop"] == ["ALL"]
        if overlay == "prod":
            assert not any("hostPath" in v for v in pod.get("volumes") or []), doc["metadata"]["name"]
        for source in _container(doc).get("envFrom") or []:
            if "configMapRef" in source:
                assert ("ConfigMap", source["configMapRef"]["name"]) in names
            if "secretRef" in source:
                secret = source["secretRef"]["name"]
                # prod expects the operator's Secret (k8s/base/secret.template.yaml); dev generates it
                assert ("Secret", secret) in names or (overlay == "prod" and secret == SECRET_NAME), secret
        for volume in pod.get("volumes") or []:
            if "persistentVolumeClaim" in volume:
                assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in names
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{doc['kind']}/{doc['metadata']['name']}"
    if overlay == "prod":
        labels = _one(docs, "Namespace", NAMESPACE)["metadata"]["labels"]
        assert labels.get("pod-security.kubernetes.io/enforce") == "restricted"


def test_secrets_stay_out_of_prod_and_match_the_template(rendered):
    assert not _of(rendered["prod"], "Secret"), "prod must not ship Secret values (it expects medgrid-secrets)"
    template = yaml.safe_load(vm.SECRET_TEMPLATE.read_text())
    assert template["metadata"]["name"] == SECRET_NAME
    assert all("CHANGE_ME" in v or not v for v in template["stringData"].values() if "URL" in v or "TOKEN" in v)
    [dev_secret] = [d for d in _of(rendered["dev"], "Secret") if d["metadata"]["name"].startswith(SECRET_NAME)]
    assert set(dev_secret["data"]) == set(template["stringData"]), "dev's generated Secret and the template disagree"
    auth = _one(rendered["prod"], "TriggerAuthentication", "medgrid-redis")
    assert {r["key"] for r in auth["spec"]["secretTargetRef"]} <= set(template["stringData"])
    assert all(t.get("authenticationRef", {}).get("name") == "medgrid-redis"
               for so in _of(rendered["prod"], "ScaledObject") for t in so["spec"]["triggers"])


def test_every_medgrid_variable_is_a_setting(rendered, compose):
    """A MEDGRID_* name in a manifest that Settings does not know would be silently ignored."""
    from medgrid.settings import Settings

    known = {name for name, _ in Settings.describe()}
    used: dict[str, str] = {}
    for line in (ROOT / "k8s" / "base" / "config.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            used[line.split("=", 1)[0]] = "k8s/base/config.env"
    for key in yaml.safe_load(vm.SECRET_TEMPLATE.read_text())["stringData"]:
        used[key] = "k8s/base/secret.template.yaml"
    for overlay, docs in rendered.items():
        for doc in docs:
            if doc["kind"] in {"Deployment", "Job"}:
                for env in _container(doc).get("env") or []:
                    used[env["name"]] = f"{overlay}: {doc['metadata']['name']}"
    for name, svc in compose["services"].items():
        for key in svc.get("environment") or {}:
            used[key] = f"docker-compose.yml: {name}"
    unknown = {k: where for k, where in used.items() if k.startswith("MEDGRID_") and k not in known}
    assert not unknown, f"not medgrid settings: {unknown}"


# ---- the validators ---------------------------------------------------------------------------

def test_kubernetes_validate_strict(tmp_path):
    files = [vm.SECRET_TEMPLATE]
    for name in vm.KUSTOMIZE_TARGETS:
        path = tmp_path / f"{name}.yaml"
        path.write_text(_tool(lambda name=name: vm.render(name)))
        files.append(path)
    errors = _tool(lambda: vm.kubernetes_validate(files))
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_objects_match_the_crd_schema(rendered, overlay):
    assert _of(rendered[overlay], "ScaledObject")
    errors = _tool(lambda: vm.validate_keda(rendered[overlay]))
    assert not errors, "\n".join(errors)


def test_keda_validation_rejects_unknown_fields(rendered):
    so = yaml.safe_load(yaml.safe_dump(_of(rendered["dev"], "ScaledObject")[0]))
    so["spec"]["minReplicas"] = 0                              # not a KEDA field
    so["spec"]["triggers"][0]["metadata"]["listLength"] = 2     # KEDA wants strings
    errors = "\n".join(_tool(lambda: vm.validate_keda([so])))
    assert "minReplicas" in errors and "listLength" in errors


def test_docker_compose_config():
    errors = _tool(vm.compose_config)
    assert not errors, "\n".join(errors)


def test_hadolint_dockerfiles():
    assert vm.DOCKERFILES, "no docker/*.Dockerfile"
    errors = _tool(vm.hadolint)
    assert not errors, "\n".join(errors)


# ---- docker-compose.yml against the roster ----------------------------------------------------

def _duration(value) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(value))
    assert parts and "".join(n + u for n, u in parts) == str(value), f"bad duration {value!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _default(value: str) -> str:
    """The default of a ${VAR:-default} interpolation, or the value itself."""
    match = re.fullmatch(r"\$\{[A-Z0-9_]+:-([^}]*)\}", str(value))
    return match.group(1) if match else str(value)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())  # PyYAML resolves the x- anchors' merge keys


def _compose_workers(compose) -> dict[str, dict]:
    return {name: svc for name, svc in compose["services"].items()
            if name.startswith("worker") or (svc.get("command") or [])[:3] == ["medgrid", "serve", "worker"]}


def _compose_gpus(svc) -> int | None:
    devices = (((svc.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []
    counts = [d.get("count") for d in devices if "gpu" in (d.get("capabilities") or [])]
    return counts[0] if len(counts) == 1 else None


def test_compose_has_one_worker_per_model_consistent_with_its_spec(compose):
    workers = _compose_workers(compose)
    by_model: dict[str, list[str]] = {}
    for name, svc in workers.items():
        command = svc.get("command") or []
        assert command[:4] == ["medgrid", "serve", "worker", "--model"] and len(command) == 5, f"{name}: {command}"
        model_id = command[4]
        by_model.setdefault(model_id, []).append(name)
        assert model_id in SPECS, f"{name} serves {model_id!r}, which has no models/{model_id}.yaml"
        assert svc["environment"].get("MEDGRID_MODEL") == model_id, name
        assert _compose_gpus(svc) == SPECS[model_id]["gpus"], (
            f"{name}: reserves {_compose_gpus(svc)} GPUs, models/{model_id}.yaml says {SPECS[model_id]['gpus']}")
        assert model_id in (svc.get("profiles") or []), f"{name}: its profile must be the model id"
    assert set(by_model) == set(SPECS), (
        f"models without a compose worker: {sorted(set(SPECS) - set(by_model))} (run scripts/add-worker-pool.py)")
    assert all(len(v) == 1 for v in by_model.values()), by_model


def _mounts(svc) -> dict[str, str]:
    """Short-syntax volumes by container path (sources may hold ${VAR:-default} colons)."""
    mounts = {}
    for volume in svc.get("volumes") or []:
        head, _, last = volume.rpartition(":")
        target = head.rpartition(":")[2] if last in {"ro", "rw"} else last
        mounts[target] = volume
    return mounts


def test_compose_workers_mount_read_only_and_outlast_a_shard(compose):
    lease = float(_default(compose["x-medgrid-env"]["MEDGRID_LEASE_SECONDS"]))
    for name, svc in _compose_workers(compose).items():
        mounts = _mounts(svc)
        for path in ("/models", "/data"):
            assert path in mounts and mounts[path].endswith(":ro"), f"{name}: {path} must be mounted :ro"
        assert _duration(svc.get("stop_grace_period", "10s")) > lease, f"{name}: stop_grace_period <= a shard"
        assert svc["healthcheck"]["test"][-1] == "file", f"{name}: healthy only once the model is loaded"
    for name in ("api", "scoring"):
        assert _mounts(compose["services"][name])["/data"].endswith(":ro"), name


def test_compose_core_services(compose):
    services = compose["services"]
    for name, argv in {"api": ["medgrid", "serve", "api"], "scoring": ["medgrid", "serve", "scoring"],
                       "sweeper": ["medgrid", "serve", "sweeper"], "migrate": ["medgrid", "db", "upgrade"]}.items():
        assert services[name]["command"] == argv, name
    for name in ("api", "scoring", "sweeper", *_compose_workers(compose)):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["restart"] == "no"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    assert "pgdata" in compose["volumes"]
    assert {"redis", "flower"} <= set(services)
    assert any(k.startswith("x-") for k in compose), "shared settings go through x- anchors"
    assert services["api"]["environment"]["MEDGRID_DATABASE_URL"].startswith("postgresql://")
    for name, svc in services.items():  # no token is written into the file
        for key, value in (svc.get("environment") or {}).items():
            if "TOKEN" in key:
                assert str(value).startswith("${"), f"{name}: {key} must come from the environment"


# ---- Dockerfiles ------------------------------------------------------------------------------

def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("name", ["api", "worker"])
def test_dockerfile_is_multistage_non_root_with_a_healthcheck(name):
    instructions = _instructions(ROOT / "docker" / f"{name}.Dockerfile")
    froms = [i for i, (k, _) in enumerate(instructions) if k == "FROM"]
    assert len(froms) >= 2, "multi-stage build expected"
    final = instructions[froms[-1]:]
    users = [rest for k, rest in final if k == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "the final stage must run as a non-root user"
    assert any(k == "HEALTHCHECK" for k, _ in final)
    assert any(k == "COPY" and rest.startswith("--from=") for k, rest in final), "the final stage copies the build"
    for keyword, rest in instructions:
        if keyword in {"ENV", "ARG"}:
            assert not re.search(r"(TOKEN|PASSWORD|SECRET|API_KEY)\w*\s*=\s*\S", rest, re.I), f"secret in {keyword} {rest}"
    installs = " ".join(rest for k, rest in instructions if k == "RUN" and "pip install" in rest)
    if name == "api":
        assert "pip install ." in installs and "[models]" not in installs, "the slim image must not install torch"
    else:
        assert '".[models]"' in installs or "'.[models]'" in installs, "the worker image installs the models extra"


def test_dockerignore_is_an_allow_list():
    lines = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert lines[0] == "*", "start from nothing so no .env, .venv or dataset enters the build context"
    assert not any(l in {"!.env", "!.venv", "!.git"} for l in lines)


# ---- adding a model is adding one file ----------------------------------------------------------

def test_worker_pool_files_are_up_to_date():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "add-worker-pool.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_adding_a_model_spec_yields_its_pool(tmp_path):
    for item in ("models", "k8s", "scripts"):
        shutil.copytree(ROOT / item, tmp_path / item)
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    spec = dict(SPECS["qwen2_5_vl_7b"], id="tiny_probe_3g", gpus=3, path="/models/tiny")
    (tmp_path / "models" / "tiny_probe_3g.yaml").write_text(yaml.safe_dump(spec))
    proc = subprocess.run([sys.executable, str(tmp_path / "scripts" / "add-worker-pool.py"), "tiny_probe_3g"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    new_files = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "k8s").rglob("tiny_probe_3g*"))
    assert new_files == ["k8s/base/workers/tiny_probe_3g"]
    docs = vm.load_all(_tool(lambda: vm.render(tmp_path / "k8s" / "overlays" / "dev")))
    [pool] = [d for d in _workers(docs) if _model_of(d) == "tiny_probe_3g"]
    assert _command(pool) == ["medgrid", "serve", "worker", "--model", "tiny_probe_3g"]
    assert int(_container(pool)["resources"]["limits"][GPU]) == 3
    [so] = [d for d in _of(docs, "ScaledObject") if d["spec"]["scaleTargetRef"]["name"] == pool["metadata"]["name"]]
    assert so["spec"]["triggers"][0]["metadata"]["listName"] == "model.tiny_probe_3g"
    compose = yaml.safe_load((tmp_path / "docker-compose.yml").read_text())
    service = compose["services"]["worker-tiny_probe_3g"]
    assert service["command"][-1] == "tiny_probe_3g" and _compose_gpus(service) == 3
