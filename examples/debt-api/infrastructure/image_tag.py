"""Which image tag the functions get: Pulumi config `imageTag` when set (a rollback pins it),
else the tag imprint gives the tree, `imprint tag --json`. One source for the Makefile and
Pulumi, so they can never disagree (the document's two-timestamp bug)."""

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class ImageTag:
    tag: str
    # True/False from imprint; None when the tag came from config (checked against ECR).
    pushed: Optional[bool]
    source: str


def resolve(config_tag: Optional[str], project_dir: Path) -> ImageTag:
    if config_tag:
        return ImageTag(config_tag, None, "config imageTag")
    imprint = os.environ.get("IMPRINT", "imprint")
    try:
        done = subprocess.run(
            [imprint, "tag", "--json"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError as err:
        raise RuntimeError(
            f"cannot run `{imprint}`: install imprint, or set IMPRINT to its path"
        ) from err
    if done.returncode != 0:
        raise RuntimeError(
            f"`imprint tag --json` failed in {project_dir}:\n{done.stderr.strip()}"
        )
    answer = json.loads(done.stdout)
    return ImageTag(answer["tag"], bool(answer.get("pushed")), "imprint tag")


def refusal(tag: ImageTag, repository: str) -> str:
    return (
        f"the image tag {tag.tag} ({tag.source}) is not pushed to {repository}; "
        "push it first (`make update-image`, i.e. `imprint deploy`), "
        "or pin a pushed tag with `pulumi config set imageTag TAG`"
    )


def unpushed_warning(tag: ImageTag, repository: str) -> str:
    return (
        f"the image tag {tag.tag} ({tag.source}) is not pushed to {repository}: the functions "
        "keep the images imprint gave them (owner imprint), but a function created by this "
        "update would fail; `make deploy` pushes the code first"
    )
