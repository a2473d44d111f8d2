"""Rendering deploy/helm/triage as `helm template` does, without a helm binary.

gotpl (PyPI) is a pure-Python Go text/template with Sprig and Helm's own functions (include, tpl, required,
fail, toYaml, fromYaml, ...). What Helm adds around the engine is small and done here: the built-in objects
(.Values, .Release, .Chart, .Files, .Template), values merged as Helm coalesces them, and numbers from YAML
as float64 (sigs.k8s.io/yaml), so `1048576` prints as `1.048576e+06` exactly as in Helm unless a template
says `int`, while toYaml writes them as Helm does (through JSON: 10001, not 10001.0).

Rendering is stricter than Helm's default: a missing map key is an error (as with Helm's --strict), and a
`.Files.Get` of a file that does not exist is recorded so tests can fail on it (Helm would return "")."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from gotpl.exts.helm import HelmTemplateEngine
from gotpl.funcs.helm import function_map

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: parsing dominates the time
ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "deploy" / "helm" / "triage"
TEMPLATES = CHART / "templates"

# Chart.yaml field -> the name Helm's .Chart object gives it.
_CHART_FIELDS = {
    "apiVersion": "APIVersion",
    "name": "Name",
    "version": "Version",
    "appVersion": "AppVersion",
    "description": "Description",
    "type": "Type",
    "kubeVersion": "KubeVersion",
    "keywords": "Keywords",
}


def helm_numbers(value: Any) -> Any:
    """Values as Helm holds them: every YAML number is a float64."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {k: helm_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [helm_numbers(v) for v in value]
    return value


def _json_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _json_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_numbers(v) for v in value]
    return value


_gotpl_to_yaml = function_map(include=None, tpl=None, required=None, fail=None)["toYaml"]  # type: ignore[arg-type]


def to_yaml(value: Any) -> str:
    """Helm's toYaml goes through JSON (sigs.k8s.io/yaml): a float64 10001 is written 10001."""
    return _gotpl_to_yaml(_json_numbers(value))


def coalesce(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of user values over the chart's: maps merge key by key, null removes a key."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = coalesce(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass
class ChartFiles:
    """Helm's `.Files`, reading below the chart directory (symbolic links followed, as Helm does)."""

    root: Path
    missing: list[str] = field(default_factory=list)

    def Get(self, name: str) -> str:  # noqa: N802 - the name templates call
        path = self.root / name
        if not path.is_file():
            self.missing.append(name)
            return ""
        return path.read_text()


@dataclass
class Release:
    texts: dict[str, str]  # template file name -> rendered text
    documents: list[dict[str, Any]]
    missing_files: list[str]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.documents if d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]


def chart_metadata() -> dict[str, Any]:
    raw = yaml.safe_load((CHART / "Chart.yaml").read_text())
    return {_CHART_FIELDS[k]: v for k, v in raw.items() if k in _CHART_FIELDS}


def default_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


@cache
def _engine() -> HelmTemplateEngine:
    sources = {f"triage/templates/{p.name}": p.read_text() for p in sorted(TEMPLATES.iterdir()) if p.is_file()}
    return HelmTemplateEngine(sources, strict=True, custom_functions={"toYaml": to_yaml})


def render(overrides: Mapping[str, Any] = {}, name: str = "triage", namespace: str = "ops", upgrade: bool = False):  # noqa: B006
    """`helm template NAME CHART -n NAMESPACE -f overrides` (or an upgrade's render)."""
    values = helm_numbers(coalesce(default_values(), overrides))
    files = ChartFiles(CHART)
    common = {
        "Values": values,
        "Release": {
            "Name": name,
            "Namespace": namespace,
            "Service": "Helm",
            "IsInstall": not upgrade,
            "IsUpgrade": upgrade,
            "Revision": 2.0 if upgrade else 1.0,
        },
        "Chart": chart_metadata(),
        "Files": files,
        "Capabilities": {"KubeVersion": {"Version": "v1.31.0", "Major": "1", "Minor": "31"}},
    }
    rendered_files = [p.name for p in sorted(TEMPLATES.iterdir()) if p.is_file() and not p.name.startswith("_")]
    base = "triage/templates"
    contexts = {f"{base}/{f}": common | {"Template": {"Name": f"{base}/{f}", "BasePath": base}} for f in rendered_files}
    texts = {k.rsplit("/", 1)[1]: v for k, v in _engine().render(contexts).items()}
    documents = [
        doc
        for f, text in texts.items()
        if f.endswith((".yaml", ".yml"))
        for doc in yaml.load_all(text, Loader=_LOADER)  # noqa: S506 - a safe loader
        if doc is not None
    ]
    return Release(texts, documents, files.missing)
