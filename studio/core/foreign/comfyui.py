"""ComfyUI: the ``prompt`` text chunk holds the API-format graph that ran
(``{node_id: {"class_type", "inputs"}}``, an input being a literal or ``[node_id, output]``).

The settings are where the sampler node's links lead: ``positive``/``negative`` through
conditioning nodes to the text encoders (and through ``CLIPSetLastLayer`` to clip skip),
``model`` through LoRA loaders to the checkpoint loader, ``latent_image`` to the empty
latent (size, batch) or to a VAE encode (img2img, its ``denoise`` the strength). A graph
with several samplers (a hires pass, a refiner) is listed stage by stage: the first stage
is restored, the others are named in ``unmapped``.
"""

from __future__ import annotations

import json
from typing import Any

from studio.core.foreign import Found, to_number, to_seed
from studio.core.samplers import comfy_sampler

SAMPLER_NODES = {"KSampler", "KSamplerAdvanced", "KSampler (Efficient)", "KSampler Adv. (Efficient)"}
CHECKPOINT_NODES = {"CheckpointLoaderSimple", "CheckpointLoader", "CheckpointLoader|pysssss", "UNETLoader", "ImageOnlyCheckpointLoader"}
_PASS_THROUGH_INPUTS = ("conditioning", "conditioning_1", "conditioning_to", "positive", "model", "clip", "samples", "base_conditioning")
_MAX_DEPTH = 64


def read(texts: dict[str, str]) -> Found | None:
    raw = texts.get("prompt")
    if not raw:
        return None
    try:
        graph = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(graph, dict) or not all(isinstance(node, dict) for node in graph.values()):
        return None
    samplers = [node_id for node_id, node in graph.items() if node.get("class_type") in SAMPLER_NODES]
    if not samplers:
        return None
    stages = _order_stages(graph, samplers)
    found = Found(source="comfyui")
    first = stages[0]
    _read_stage(graph, first, found)
    found.stages = [_describe_stage(graph, node_id) for node_id in stages]
    for index, node_id in enumerate(stages[1:], start=2):
        stage = found.stages[index - 1]
        found.unmapped[f"stage {index}"] = (
            f"a second sampler pass ({stage.get('sampler')}, {stage.get('steps')} steps, denoise {stage.get('denoise')}) "
            "is not restored; only the first pass is"
        )
    return found


def _link(value: Any) -> str | None:
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int)):
        return str(value[0])
    return None


def _node(graph: dict[str, Any], node_id: str | None) -> dict[str, Any] | None:
    if node_id is None:
        return None
    node = graph.get(node_id)
    return node if isinstance(node, dict) else None


def _inputs(node: dict[str, Any] | None) -> dict[str, Any]:
    values = (node or {}).get("inputs")
    return values if isinstance(values, dict) else {}


def _upstream_samplers(graph: dict[str, Any], node_id: str) -> set[str]:
    """Sampler nodes this sampler's latent comes from (directly or through latent nodes)."""
    seen: set[str] = set()
    found: set[str] = set()
    stack = [_link(_inputs(_node(graph, node_id)).get("latent_image"))]
    while stack:
        current = stack.pop()
        if current is None or current in seen:
            continue
        seen.add(current)
        node = _node(graph, current)
        if node is None:
            continue
        if node.get("class_type") in SAMPLER_NODES:
            found.add(current)
        for value in _inputs(node).values():
            stack.append(_link(value))
    return found


def _order_stages(graph: dict[str, Any], samplers: list[str]) -> list[str]:
    """Samplers in the order they ran: a sampler fed by another's latent comes after it."""
    depth = {node_id: len(_upstream_samplers(graph, node_id)) for node_id in samplers}
    return sorted(samplers, key=lambda node_id: (depth[node_id], _numeric(node_id)))


def _numeric(node_id: str) -> tuple[int, str]:
    head = node_id.split(":")[0]
    return (int(head), node_id) if head.isdigit() else (1 << 30, node_id)


def _read_stage(graph: dict[str, Any], node_id: str, found: Found) -> None:
    node = _node(graph, node_id)
    values = _inputs(node)
    inputs = found.inputs
    seed_value = values.get("seed", values.get("noise_seed"))
    seed_value = _literal(graph, seed_value)
    found.seed = to_seed(seed_value)
    if seed_value is not None and found.seed is None:
        found.unmapped["seed"] = f"{seed_value!r} is not a seed"
    for key, name, integral in (("steps", "steps", True), ("cfg", "guidance", False)):
        number = to_number(_literal(graph, values.get(key)), integral=integral)
        if number is not None:
            inputs[name] = number
    sampler_name = _literal(graph, values.get("sampler_name"))
    scheduler_name = _literal(graph, values.get("scheduler"))
    if sampler_name is not None:
        sampler, schedule = comfy_sampler(str(sampler_name), str(scheduler_name) if scheduler_name else None)
        if sampler is None:
            found.unmapped["sampler_name"] = f"ComfyUI sampler {sampler_name!r} has no diffusers equivalent"
        else:
            inputs["sampler"] = sampler
        if scheduler_name is not None:
            if schedule is None:
                found.unmapped["scheduler"] = f"ComfyUI scheduler {scheduler_name!r} has no A1111 schedule type"
            else:
                inputs["schedule"] = schedule
    if node and node.get("class_type") == "KSamplerAdvanced":
        start = to_number(_literal(graph, values.get("start_at_step")), integral=True)
        if start:
            found.unmapped["start_at_step"] = f"{start}: starting part-way through the steps is not restored"
    for key, name in (("positive", "prompt"), ("negative", "negative_prompt")):
        text, skip = _conditioning_text(graph, _link(values.get(key)))
        if text is not None:
            inputs[name] = text
        if skip and key == "positive":
            inputs["clip_skip"] = skip
    _model(graph, _link(values.get("model")), found)
    _latent(graph, _link(values.get("latent_image")), found, values)


def _literal(graph: dict[str, Any], value: Any, depth: int = 0) -> Any:
    """A literal input, following a link to a primitive node (``PrimitiveNode``, seed nodes)."""
    link = _link(value)
    if link is None or depth > _MAX_DEPTH:
        return value
    values = _inputs(_node(graph, link))
    for key in ("value", "seed", "noise_seed", "int", "float", "string", "text", "number"):
        if key in values:
            return _literal(graph, values[key], depth + 1)
    return None


def _conditioning_text(graph: dict[str, Any], node_id: str | None, depth: int = 0) -> tuple[str | None, int | None]:
    """(prompt text, A1111 clip skip or None) behind a conditioning link."""
    node = _node(graph, node_id)
    if node is None or depth > _MAX_DEPTH:
        return None, None
    values = _inputs(node)
    if "text" in values or "text_g" in values:
        text = _literal(graph, values.get("text", values.get("text_g")))
        skip = _clip_skip(graph, _link(values.get("clip")))
        return (str(text) if text is not None else None), skip
    for key in _PASS_THROUGH_INPUTS:
        if key in values and _link(values[key]) is not None:
            return _conditioning_text(graph, _link(values[key]), depth + 1)
    return None, None


def _clip_skip(graph: dict[str, Any], node_id: str | None, depth: int = 0) -> int | None:
    node = _node(graph, node_id)
    if node is None or depth > _MAX_DEPTH:
        return None
    values = _inputs(node)
    if node.get("class_type") == "CLIPSetLastLayer":
        layer = to_number(_literal(graph, values.get("stop_at_clip_layer")), integral=True)
        return -int(layer) if layer is not None and layer < 0 else None
    link = _link(values.get("clip"))
    return _clip_skip(graph, link, depth + 1) if link else None


def _model(graph: dict[str, Any], node_id: str | None, found: Found, depth: int = 0) -> None:
    node = _node(graph, node_id)
    if node is None or depth > _MAX_DEPTH:
        return
    values = _inputs(node)
    kind = node.get("class_type")
    if kind in CHECKPOINT_NODES or "ckpt_name" in values or "unet_name" in values:
        name = values.get("ckpt_name", values.get("unet_name"))
        if name is not None:
            found.model_name = str(name)
        return
    if "lora_name" in values:
        found.unmapped[f"lora {values.get('lora_name')}"] = (
            f"LoRA at strength {values.get('strength_model', 1.0)}: add it with the LoRA parameters"
        )
    link = _link(values.get("model"))
    if link is not None:
        _model(graph, link, found, depth + 1)


def _latent(graph: dict[str, Any], node_id: str | None, found: Found, sampler_values: dict[str, Any], depth: int = 0) -> None:
    node = _node(graph, node_id)
    if node is None or depth > _MAX_DEPTH:
        return
    values = _inputs(node)
    kind = str(node.get("class_type", ""))
    if "width" in values and "height" in values:
        width = to_number(_literal(graph, values["width"]), integral=True)
        height = to_number(_literal(graph, values["height"]), integral=True)
        if width and height:
            found.inputs["width"], found.inputs["height"] = width, height
        batch = to_number(_literal(graph, values.get("batch_size")), integral=True)
        if batch:
            found.inputs["batch_size"] = batch
        return
    if kind.startswith("VAEEncode"):
        found.role = "image.from_image"
        denoise = to_number(_literal(graph, sampler_values.get("denoise")))
        if denoise is not None:
            found.inputs["strength"] = denoise
        found.unmapped.setdefault("image", "the img2img source image is not stored in the file; give it as the image input")
        return
    link = _link(values.get("samples", values.get("latent", values.get("latent_image"))))
    if link is not None:
        _latent(graph, link, found, sampler_values, depth + 1)


def _describe_stage(graph: dict[str, Any], node_id: str) -> dict[str, Any]:
    node = _node(graph, node_id) or {}
    values = _inputs(node)
    return {
        "node": node_id,
        "class_type": node.get("class_type"),
        "seed": _literal(graph, values.get("seed", values.get("noise_seed"))),
        "steps": _literal(graph, values.get("steps")),
        "cfg": _literal(graph, values.get("cfg")),
        "sampler": _literal(graph, values.get("sampler_name")),
        "scheduler": _literal(graph, values.get("scheduler")),
        "denoise": _literal(graph, values.get("denoise", 1.0)),
    }
