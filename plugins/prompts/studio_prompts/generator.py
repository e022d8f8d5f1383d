"""The prompt builder: expands a dynamic-prompt template into a batch of prompts. No model.

Output: one ``TextOutput`` per prompt, in order, so each can be sent to an image generator
as its own job. With ``as_list`` on, one ``TextOutput`` holds the whole batch, one prompt a
line (the format the window's "send each line as a job" action reads).

Wildcard folders, searched in this order (the first file found for a name wins):

1. ``settings["wildcards_dir"]`` when the engine passes one (a path or a list of paths);
2. ``wildcards/`` beside the studio home's ``models/`` folder, i.e. ``<STUDIO_HOME>/wildcards``
   (the engine always lists ``<STUDIO_HOME>/models`` among ``ctx.model_paths``; any other
   configured model folder named ``models`` gets its sibling ``wildcards/`` searched too);
3. the starter set shipped in ``resources/wildcards/``.
"""

from __future__ import annotations

import random
from pathlib import Path

from studio.core.paths import resources_dir
from studio.plugins.api import Context, Generator, Request, TextOutput
from studio_prompts.expand import Expander
from studio_prompts.syntax import parse
from studio_prompts.wildcards import WildcardLibrary


def wildcard_folders(ctx: Context) -> list[Path]:
    folders: list[Path] = []
    configured = ctx.settings.get("wildcards_dir") if ctx.settings else None
    if configured:
        values = configured if isinstance(configured, (list, tuple)) else [configured]
        folders.extend(Path(str(value)).expanduser() for value in values)
    for model_path in ctx.model_paths:
        if Path(model_path).name == "models":
            folders.append(Path(model_path).parent / "wildcards")
    folders.append(resources_dir() / "wildcards")
    unique: list[Path] = []
    for folder in folders:
        if folder not in unique:
            unique.append(folder)
    return unique


class PromptsGenerator(Generator):
    def generate(self, request: Request, ctx: Context) -> list[TextOutput]:
        params = request.params
        template = str(params.get("template") or "")
        mode = str(params.get("mode") or "random")
        count = int(params.get("count") or 1)
        cap = int(params.get("max_prompts") or 100)

        tree = parse(template)
        expander = Expander(WildcardLibrary(wildcard_folders(ctx)))
        expander.check(tree)

        prompts: list[str] = []
        if mode == "combinatorial":
            total = expander.count(tree)
            for prompt in expander.combinations(tree):
                ctx.check_cancelled()
                if len(prompts) >= cap:
                    break
                prompts.append(prompt)
                ctx.progress(len(prompts), min(total, cap))
            if total > cap:
                ctx.log(f"the template makes {total} combinations; listing the first {cap} (raise 'max prompts' for more)")
        else:
            rng = random.Random(request.seed)
            for index in range(count):
                ctx.check_cancelled()
                prompts.append(expander.sample(tree, rng))
                ctx.progress(index + 1, count)

        common = {"Template": template, "Mode": mode, "Seed": request.seed}
        if params.get("as_list"):
            return [TextOutput("\n".join(prompts), parameters={**common, "Prompts": len(prompts), "Format": "one prompt a line"})]
        return [TextOutput(prompt, parameters={**common, "Index": index, "Prompts": len(prompts)}) for index, prompt in enumerate(prompts)]
