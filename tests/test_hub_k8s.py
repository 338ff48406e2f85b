"""The workshop's hub on Kubernetes (hub/k8s/): what can be checked without a cluster.

Kubernetes cannot run on the machines this course is built on, so these tests check the files: they parse; the
values pass the Zero to JupyterHub chart's own values schema (when the chart is given: the schema is published
only in the chart's repository and its Helm package, neither on the package index, Debian nor npm); the course
server is never reachable without the room's secret; each learner's credential is the course's own; the
nbgitpuller link opens this course; and the sizes follow the measured figures.
"""
from __future__ import annotations

import copy
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import types
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import openai
import pytest
import yaml

from helpers.server import engine_child, learners, lifecycle

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "hub" / "k8s"
CHART_VERSION = "4.4.0"  # the newest Zero to JupyterHub release found on 2026-11-30 (released 2026-06-10)
SCHEMA_VARIABLE = "Z2JH_VALUES_SCHEMA"
NO_KEY = "local"  # pragma: allowlist secret - the course server takes any key; the learner credential decides
# Measured figures (docs/instructor-guide.md, benchmarks/room_load_bench.py; the kernel alone: values.yaml)
LEARNER_ONE_NOTEBOOK_MIB = 238  # a learner's Jupyter server with one notebook after helpers.setup()
EXTRA_NOTEBOOK_MIB = 104  # one more notebook's kernel after setup() and lesson 03's calls
KERNEL_CPU_FRACTION = 0.009  # that kernel's CPU while its calls run
ROOM_SERVER_30_MIB = 872  # the room's course server at peak, 30 learners, the engine's 8 slots
ROOM_SERVER_100_MIB = 1495  # the same, 100 learners calling at once


@pytest.fixture(scope="module")
def values() -> dict:
    data = yaml.safe_load((K8S / "values.yaml").read_text())
    assert isinstance(data, dict), "hub/k8s/values.yaml must be one YAML mapping"
    return data


@pytest.fixture(scope="module")
def manifests() -> dict:
    docs = [d for d in yaml.safe_load_all((K8S / "course-server.yaml").read_text()) if d]
    kinds = [d["kind"] for d in docs]
    assert sorted(kinds) == ["ConfigMap", "Deployment", "NetworkPolicy", "Service"], kinds
    return {d["kind"]: d for d in docs}


def _bytes(spec: str | int) -> int:
    """KubeSpawner's and Kubernetes' sizes: 256M, 1G (KubeSpawner: powers of 1024), 640Mi, 1Gi."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]i?)?", str(spec))
    assert match, f"not a size: {spec!r}"
    power = " KMGT".index(match.group(2)[0]) if match.group(2) else 0
    return int(float(match.group(1)) * 1024 ** power)


def _cpu(spec: str | float) -> float:
    text = str(spec)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _container(manifests: dict, name: str) -> dict:
    containers = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == name)


def _arg(command: list, flag: str) -> str:
    return str(command[command.index(flag) + 1])


# ---------------------------------------------------------------- the chart's schema


def _helm_merge(defaults: dict, override: dict) -> dict:
    """Helm's merge of a values file over the chart's values.yaml: mappings merge, anything else replaces,
    and null removes the key."""
    merged = copy.deepcopy(defaults)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _chart() -> tuple[dict, dict]:
    """The chart's (schema, default values), from the schema file Z2JH_VALUES_SCHEMA names; skip without it."""
    where = os.environ.get(SCHEMA_VARIABLE, "").strip()
    if not where:
        pytest.skip(f"{SCHEMA_VARIABLE} is not set: the Zero to JupyterHub chart's values schema is published only "
                    f"in the chart (not on the package index, Debian or npm). Set {SCHEMA_VARIABLE} to "
                    f"jupyterhub/values.schema.yaml of jupyterhub/zero-to-jupyterhub-k8s at tag {CHART_VERSION}, or to "
                    f"values.schema.json of `helm pull jupyterhub/jupyterhub --version {CHART_VERSION} --untar`; "
                    f"the chart's values.yaml must be beside it")
    schema_file = Path(where)
    assert schema_file.is_file(), f"{SCHEMA_VARIABLE}={where}: no such file"
    defaults_file = schema_file.parent / "values.yaml"
    assert defaults_file.is_file(), (f"{defaults_file} not found: the chart's values.yaml must be beside its schema "
                                     f"(Helm checks the chart's values merged with ours)")
    chart_file = schema_file.parent / "Chart.yaml"
    if chart_file.is_file():
        version = str(yaml.safe_load(chart_file.read_text()).get("version", ""))
        assert version in (CHART_VERSION, "0.0.1-set.by.chartpress"), (
            f"{chart_file} is version {version}, but hub/k8s/values.yaml was written for {CHART_VERSION}: check the "
            f"changelog for breaking changes, then update the version in values.yaml and in this test")
    return yaml.safe_load(schema_file.read_text()), yaml.safe_load(defaults_file.read_text())


def test_values_pass_the_charts_values_schema(values):
    import jsonschema

    schema, defaults = _chart()
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(_helm_merge(defaults, values)), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    broken = _helm_merge(values, {"singleuser": {"cpu": {"guarantee": "a lot"}, "cpuGuarantee": 1}})
    assert list(validator.iter_errors(_helm_merge(defaults, broken))), "the schema let a broken value through"


def test_the_chart_version_is_the_one_recorded(values):
    text = (K8S / "values.yaml").read_text()
    assert f"version {CHART_VERSION}" in text.split("\n\n")[0], "values.yaml's header must name the chart version"
    assert f"--version {CHART_VERSION}" in text, "the helm command in values.yaml must install that version"


# ---------------------------------------------------------------- the course server: never open without the secret


def test_the_course_server_needs_the_rooms_secret(manifests, values):
    server = _container(manifests, "course-server")
    assert "--shared" in server["command"], "the room's server must run with --shared (learner credentials)"
    secret = next(e for e in server["env"] if e["name"] == learners.SECRET_VARIABLE)
    assert "value" not in secret, "the secret must come from a Kubernetes Secret, never be written in the file"
    ref = secret["valueFrom"]["secretKeyRef"]
    assert ref.get("optional") is False, "without the Secret the pod must not start (optional: false)"
    hub_ref = values["hub"]["extraEnv"][learners.SECRET_VARIABLE]["valueFrom"]["secretKeyRef"]
    assert (hub_ref["name"], hub_ref["key"]) == (ref["name"], ref["key"]), "hub and server must share one Secret"
    for doc in manifests.values():
        assert doc["kind"] != "Secret", "the Secret is created with kubectl, never kept in the repository"


def test_the_course_server_as_deployed_refuses_to_start_without_a_secret(manifests, tmp_path):
    command = list(_container(manifests, "course-server")["command"])
    assert command[:3] == ["python", "-m", "helpers.server.main"], command
    args = command[3:]
    args[args.index("--port") + 1] = "0"
    args[args.index("--state-dir") + 1] = str(tmp_path / "state")
    env = {k: v for k, v in os.environ.items() if k != learners.SECRET_VARIABLE}
    for secret in (None, "short"):
        if secret:
            env[learners.SECRET_VARIABLE] = secret
        done = subprocess.run([sys.executable, "-m", "helpers.server.main", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (secret, done.returncode, done.stdout, done.stderr)
        assert learners.SECRET_VARIABLE in done.stdout, done.stdout


def test_the_service_is_inside_the_cluster_only_and_only_for_learners(manifests):
    service, policy = manifests["Service"], manifests["NetworkPolicy"]
    assert service["spec"]["type"] == "ClusterIP"
    assert not {"externalIPs", "loadBalancerIP", "externalName"} & set(service["spec"]), service["spec"]
    assert all("nodePort" not in p for p in service["spec"]["ports"])
    pod_labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    (rule,) = policy["spec"]["ingress"]
    (source,) = rule["from"]
    assert source == {"podSelector": {"matchLabels": {"app": "jupyterhub", "component": "singleuser-server"}}}
    assert [p["port"] for p in rule["ports"]] == [8330]
    assert policy["spec"]["egress"] == [], "the course server needs no connection out"


def test_the_learners_reach_the_course_server_through_its_proxy(manifests, values):
    service = manifests["Service"]
    url = values["singleuser"]["extraEnv"]["COURSE_SERVER_URL"]
    assert url == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    proxy = _container(manifests, "proxy")
    port = next(p["containerPort"] for p in proxy["ports"] if p["name"] == service["spec"]["ports"][0]["targetPort"])
    nginx = manifests["ConfigMap"]["data"]["default.conf"]
    server_port = _arg(_container(manifests, "course-server")["command"], "--port")
    assert f"listen {port};" in nginx
    assert f"proxy_pass http://127.0.0.1:{server_port};" in nginx
    # the server refuses a Host that is not its own loopback address (helpers/server/gateway.py)
    assert f"proxy_set_header Host 127.0.0.1:{server_port};" in nginx
    assert "proxy_buffering off;" in nginx, "streamed answers must not wait in nginx's buffer"
    (egress,) = values["singleuser"]["networkPolicy"]["egress"]
    pod_labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert egress["to"][0]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert [p["port"] for p in egress["ports"]] == [port]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def proxied_room(manifests, tmp_path):
    """The pod's two containers on loopback: the room's server (--shared) behind nginx with the ConfigMap's
    server block (only its ports changed). Yields (nginx's URL, the room's secret). Needs nginx (Debian's)."""
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light): the course server's proxy is not run")
    secret = secrets.token_hex(32)
    state = tmp_path / "state"
    command = list(_container(manifests, "course-server")["command"])
    args = command[3:]
    args[args.index("--port") + 1] = "0"
    args[args.index("--state-dir") + 1] = str(state)
    server = subprocess.Popen([sys.executable, "-m", "helpers.server.main", *args], cwd=ROOT,
                              env={**os.environ, learners.SECRET_VARIABLE: secret},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = None
    try:
        deadline = time.monotonic() + 120
        info = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                info = json.loads((state / lifecycle.STATE_FILE).read_text())
                if info.get("pid") == server.pid and lifecycle.probe(info["port"], info["token"]):
                    break
            except (OSError, ValueError):
                pass
            info = None
            time.sleep(0.2)
        assert info is not None, "the room's server did not start"
        block = manifests["ConfigMap"]["data"]["default.conf"]
        port = _free_port()
        block = block.replace("listen 8330;", f"listen 127.0.0.1:{port};").replace(
            "127.0.0.1:8331", f"127.0.0.1:{info['port']}")
        temp = " ".join(f"{kind}_temp_path {tmp_path / kind};" for kind in
                        ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        user = "user root;" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
        (tmp_path / "nginx.conf").write_text(
            f"{user} daemon off; pid {tmp_path / 'nginx.pid'}; error_log {tmp_path / 'error.log'};\n"
            f"events {{}}\nhttp {{ access_log off; {temp}\n{block}\n}}\n")
        proxy = subprocess.Popen([nginx, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert proxy.poll() is None, (tmp_path / "error.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.1)
        yield url, secret
    finally:
        for proc in (proxy, server):  # only the processes this fixture started
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(15)


def test_through_the_pods_proxy_only_a_learner_gets_an_answer(proxied_room):
    url, secret = proxied_room
    with pytest.raises(openai.AuthenticationError) as e:  # no credential: the server's own 401, through nginx
        openai.OpenAI(base_url=url + "/v1", api_key=NO_KEY, max_retries=0).chat.completions.create(
            model="gpt-6-luna", messages=[{"role": "user", "content": "Hi"}], max_completion_tokens=4)
    assert "learner credential" in str(e.value)
    client = openai.OpenAI(base_url=url + "/v1", api_key=NO_KEY, max_retries=0, timeout=120,
                           default_headers={learners.HEADER: learners.credential_for(secret, "ada")})
    stream = client.chat.completions.create(model="gpt-6-luna", messages=[{"role": "user", "content": "Say hi."}],
                                            max_completion_tokens=16, reasoning_effort="none", stream=True)
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1 and "".join(pieces).strip(), "a streamed answer must come through in pieces"


# ---------------------------------------------------------------- each learner's credential


def _hub_config(values) -> types.SimpleNamespace:
    """Run hub.extraConfig as the hub would, with a stand-in for its config object ``c``."""
    c = types.SimpleNamespace(KubeSpawner=types.SimpleNamespace())
    for code in values["hub"]["extraConfig"].values():
        exec(compile(code, "hub.extraConfig", "exec"), {"c": c})  # noqa: S102 - our own file
    return c


def _spawner(name: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(user=types.SimpleNamespace(name=name), environment={})


def test_each_learner_gets_the_courses_own_credential(values, monkeypatch):
    secret = "k8s-test-secret-0123456789abcdef"  # pragma: allowlist secret
    monkeypatch.setenv(learners.SECRET_VARIABLE, secret)
    hook = _hub_config(values).KubeSpawner.pre_spawn_hook
    for name in ("ada", "bob", "zoë", "first.last@example.org"):
        spawner = _spawner(name)
        hook(spawner)
        credential = spawner.environment["COURSE_LEARNER_TOKEN"]
        assert credential == learners.credential_for(secret, name), name
        assert learners.learner_of(secret, credential) == name
    ada, bob = _spawner("ada"), _spawner("bob")
    hook(ada)
    hook(bob)
    assert ada.environment != bob.environment


def test_a_hub_without_the_secret_refuses_to_spawn_with_the_fix(values, monkeypatch):
    monkeypatch.delenv(learners.SECRET_VARIABLE, raising=False)
    hook = _hub_config(values).KubeSpawner.pre_spawn_hook
    with pytest.raises(RuntimeError, match="course-shared-secret"):
        hook(_spawner("ada"))


# ---------------------------------------------------------------- the material, culling, the image


def test_the_nbgitpuller_link_opens_this_course(values):
    import tomllib

    course = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["course"]
    link = urlsplit(values["singleuser"]["defaultUrl"])
    assert link.path == "/git-pull"
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert query["repo"] == course["repository"], ("the git-pull link must pull the course's repository "
                                                   "([tool.course] in pyproject.toml): update hub/k8s/values.yaml")
    assert query["branch"] == course["branch"]
    target = query["targetpath"]
    prefix = f"lab/tree/{target}/"
    assert query["urlpath"].startswith(prefix), query["urlpath"]
    assert (ROOT / query["urlpath"][len(prefix):]).is_file(), f"{query['urlpath']} is not a notebook of the course"


def test_learners_work_in_their_volume_beside_the_image_copy_of_the_course(values):
    mount = values["singleuser"]["storage"]["homeMountPath"]
    assert values["hub"]["config"]["KubeSpawner"]["notebook_dir"] == mount
    assert mount != "/home/jovyan", "a volume over /home/jovyan hides the course package pip installed there (-e .)"
    assert mount.startswith("/home/jovyan/")


def test_idle_servers_are_culled_as_on_one_machine(values):
    config = (ROOT / "hub" / "jupyterhub_config.py").read_text()
    one_machine = int(re.search(r'_setting\("HUB_IDLE_TIMEOUT", "(\d+)"\)', config).group(1))
    cull = values["cull"]
    assert cull["enabled"] is True
    assert cull["timeout"] == one_machine
    assert cull["users"] is False, "culling users would drop their first-use passwords"


def test_the_image_repo2docker_builds_has_nbgitpuller():
    """The git-pull link needs nbgitpuller in the image, at the version the one-machine hub tested."""
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict) and "pip" in d)
    hub = (ROOT / "hub" / "requirements.txt").read_text()
    pinned = re.search(r"^nbgitpuller==(\S+)", hub, re.M).group(1)
    assert f"nbgitpuller=={pinned}" in pip, pip


def test_the_image_is_built_by_repo2docker_from_this_repository(values, manifests):
    assert (ROOT / "environment.yml").is_file() and (ROOT / "postBuild").is_file()
    image = values["singleuser"]["image"]
    text = (K8S / "values.yaml").read_text()
    assert f"--image-name {image['name']}:{image['tag']}" in text, "the repo2docker command must build this image"
    assert "jupyter-repo2docker" in text
    assert _container(manifests, "course-server")["image"] == f"{image['name']}:{image['tag']}", (
        "the course server runs the learners' image (it has the course and the model)")


# ---------------------------------------------------------------- sizes from the measurements


def test_learner_guarantees_follow_the_measurements(values):
    single = values["singleuser"]
    mib = 2 ** 20
    guarantee, limit = _bytes(single["memory"]["guarantee"]), _bytes(single["memory"]["limit"])
    assert LEARNER_ONE_NOTEBOOK_MIB * mib <= guarantee <= 1.25 * LEARNER_ONE_NOTEBOOK_MIB * mib
    assert limit >= (LEARNER_ONE_NOTEBOOK_MIB + 7 * EXTRA_NOTEBOOK_MIB) * mib, "the limit must hold 8 notebooks"
    cpu = single["cpu"]
    assert KERNEL_CPU_FRACTION <= cpu["guarantee"] <= 10 * KERNEL_CPU_FRACTION
    assert cpu["limit"] >= 1
    text = (K8S / "values.yaml").read_text()
    for figure in (LEARNER_ONE_NOTEBOOK_MIB, EXTRA_NOTEBOOK_MIB, ROOM_SERVER_30_MIB):
        assert f"{figure} MiB" in text, f"values.yaml must state the measured {figure} MiB its sizes come from"


def test_course_server_resources_follow_the_measurements(manifests):
    server = _container(manifests, "course-server")
    resources = server["resources"]
    slots = int(next(e["value"] for e in server["env"] if e["name"] == "COURSE_ENGINE_SLOTS"))
    assert slots == engine_child.SHARED_SLOTS_PER_THREAD, "slots: a room's engine's, for its one decode thread"
    assert _bytes(resources["requests"]["memory"]) >= ROOM_SERVER_30_MIB * 2 ** 20, "the request must hold 30"
    assert _bytes(resources["limits"]["memory"]) >= ROOM_SERVER_100_MIB * 2 ** 20, "the limit must hold 100"
    assert _cpu(resources["requests"]["cpu"]) >= 1, "the engine's decode thread needs a whole core"
    assert _cpu(resources["limits"]["cpu"]) >= _cpu(resources["requests"]["cpu"])


def test_the_measured_figures_are_the_guides(values):
    guide = (ROOT / "docs" / "instructor-guide.md").read_text()
    for figure in (LEARNER_ONE_NOTEBOOK_MIB, ROOM_SERVER_30_MIB):
        assert re.search(rf"\b{figure} MB\b", guide), (
            f"docs/instructor-guide.md no longer gives {figure} MB: recompute the sizes in hub/k8s/ from its "
            f"figures and update this test's constants")
