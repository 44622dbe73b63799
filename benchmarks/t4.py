"""The full profile on a Colab T4, estimated on paper: ``python -m benchmarks.t4``.

A Colab student with a GPU runs the full profile on a T4.  Until a T4 has run
it, this module estimates each chapter's training time and peak GPU memory
there from what the course can count exactly (every convolution's
multiply-adds, every layer's output, every weight) and from two published
rates, and the performance appendix prints the estimate as a table
(``python -m benchmarks.page``).  Its assumptions, all stated on the page:

* **Rate.**  NVIDIA's ResNet-50 v1.5 runs inference on a T4 at 428 images/s
  in fp32 and 1,198 images/s in mixed precision (largest batch of their
  table); ResNet-50 does 3.8 billion multiply-adds per 224×224 image (He et
  al. 2016).  So a T4 sustains about 1.6 × 10¹² multiply-adds per second in
  fp32 and 4.6 × 10¹² in mixed precision on a real convolutional network.
  PyTorch trains in mixed precision on a GPU (``fit``'s ``amp="auto"``);
  Keras trains as the chapters build it, in fp32.
* **Work.**  A training step costs three forward passes (the backward pass
  about twice the forward one); only the trainings count, not evaluation or
  plots.
* **Memory.**  Weights, gradients and Adam's two moments (16 bytes a weight),
  every layer's output for the backward pass (2 bytes a value in mixed
  precision, 4 in fp32; pooling indices 8), and the weights of the models the
  chapter keeps from its earlier trainings, plus 1 GiB for CUDA's context and
  workspaces.

Which trainings a chapter runs in the full profile is written here
(:data:`TRAININGS`); a test checks it against what the full-profile smoke run
(``benchmarks/results/smoke-*.json``) saw the chapters train.

    python -m benchmarks.t4       # print the estimate
"""

from __future__ import annotations

from dataclasses import dataclass

# NVIDIA DeepLearningExamples, ResNet-50 v1.5 for PyTorch, "Inference performance: NVIDIA T4"
# (batch 256 and 64: the table's largest throughputs) and He et al. 2016, Table 1.
RESNET50_IMAGES_PER_SECOND = {"fp32": 428, "mixed": 1198}
RESNET50_MULTIPLY_ADDS = 3.8e9
RATE = {precision: images * RESNET50_MULTIPLY_ADDS for precision, images in RESNET50_IMAGES_PER_SECOND.items()}
PRECISION = {"torch": "mixed", "keras": "fp32"}  # what each framework trains in on a T4, as the chapters run
BACKWARD_FACTOR = 3  # forward + backward ≈ three forward passes
BYTES_PER_VALUE = {"mixed": 2, "fp32": 4}
BYTES_PER_WEIGHT_TRAINED = 16  # fp32 weight, gradient, Adam's two moments
CUDA_OVERHEAD_GIB = 1.0
GOAL_MINUTES, GOAL_GIB = 20, 12


@dataclass(frozen=True)
class Training:
    """One ``fit`` of a chapter in the full profile: which model, sized by which profile row."""

    model: str
    row: str
    num_classes: int
    in_channels: int = 3
    full_width: bool = False  # pretrained at the paper's width 64, whatever the row's width


# chapter -> its trainings in the full profile, in the order the chapter runs them (the smoke run checks the list)
TRAININGS: dict[str, list[Training]] = {
    "01_segmentation_basics": [Training("tiny_fcn", "basics", 4)],
    "02_fcn": [*(Training(name, "fcn", 4, full_width=True) for name in ("fcn32s", "fcn16s", "fcn8s")),
               *(Training(name, "fcn_camvid", 11, full_width=True) for name in ("fcn32s", "fcn16s", "fcn8s"))],
    "03_segnet": [Training("segnet", "segnet", 4), Training("segnet_nearest", "segnet", 4),
                  Training("segnet", "segnet_camvid", 11)],
    "04_unet": [Training("unet_bn", "unet", 2, in_channels=1)],
    "05_medical_data": [],
    "06_medical_evaluation": [Training("unet_bn", "medical", 2, in_channels=1)],
    "07_comparison": [],
}


@dataclass(frozen=True)
class Cost:
    """What one training costs: counted per image, then over the run."""

    training: Training
    image_shape: tuple[int, int]
    batch_size: int
    images_seen: int  # epochs × training images
    multiply_adds: int  # one forward pass of one image
    weights: int
    activation_values: int  # floating-point layer outputs of one image
    index_values: int  # integer layer outputs (pooling indices) of one image

    @property
    def work(self) -> int:
        """Multiply-adds of the whole training: every image seen, forward and backward."""
        return BACKWARD_FACTOR * self.multiply_adds * self.images_seen

    def minutes(self, framework: str) -> float:
        return self.work / RATE[PRECISION[framework]] / 60

    def training_gib(self, framework: str) -> float:
        per_image = self.activation_values * BYTES_PER_VALUE[PRECISION[framework]] + self.index_values * 8
        return (self.batch_size * per_image + self.weights * BYTES_PER_WEIGHT_TRAINED) / 2**30


def _build(training: Training, settings):
    from .segnet_camvid import build_decoder  # knows chapter 3's segnet_nearest, and every other name

    width = 64 if training.full_width else settings.width
    return build_decoder(training.model, "torch", training.num_classes, width, training.in_channels)


def _layer_outputs(model, in_channels: int, height: int, width: int) -> tuple[int, int]:
    """Floating-point and integer values that the leaf layers of a torch ``model`` output for one image."""
    import torch

    from coursekit.models.registry import probe_forward

    counts = {"float": 0, "integer": 0}

    def record(module, inputs, output):
        for tensor in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(tensor, torch.Tensor):
                counts["float" if tensor.is_floating_point() else "integer"] += tensor.numel()

    hooks = [m.register_forward_hook(record) for m in model.modules() if not list(m.children())]
    probe_forward(model, hooks, in_channels, height, width)
    return counts["float"], counts["integer"]


def cost(training: Training, profile: str = "full") -> Cost:
    """Count what ``training`` costs at its profile row's sizes."""
    import torch

    from coursekit.models import count_multiply_adds, count_params
    from coursekit.profiles import settings_for

    settings = settings_for(training.row, profile)
    height, width = settings.image_shape
    with torch.device("meta"):  # shapes only: nothing is allocated or computed
        model = _build(training, settings)
    floats, integers = _layer_outputs(model, training.in_channels, height, width)
    return Cost(training, (height, width), settings.batch_size, settings.epochs * settings.train_images,
                count_multiply_adds(model, (training.in_channels, height, width)), count_params(model),
                floats, integers)


def chapter_estimate(chapter: str, profile: str = "full") -> dict:
    """A chapter's estimated training minutes and peak GiB per framework, and its trainings' costs."""
    costs = [cost(t, profile) for t in TRAININGS[chapter]]
    estimate = {"chapter": chapter, "costs": costs}
    for framework in PRECISION:
        estimate[f"{framework}_minutes"] = sum(c.minutes(framework) for c in costs)
        # each training in turn, with the weights of the models trained before it still held (4 bytes each)
        kept, peak = 0, 0.0
        for c in costs:
            peak = max(peak, c.training_gib(framework) + kept * 4 / 2**30)
            kept += c.weights
        estimate[f"{framework}_gib"] = peak + CUDA_OVERHEAD_GIB if costs else None
    return estimate


def estimates(profile: str = "full") -> list[dict]:
    return [chapter_estimate(chapter, profile) for chapter in TRAININGS]


def _verdict(estimate: dict) -> str:
    if not estimate["costs"]:
        return "no training"
    fits = all(estimate[f"{f}_minutes"] <= GOAL_MINUTES and estimate[f"{f}_gib"] <= GOAL_GIB for f in PRECISION)
    return "fits" if fits else "**too big**"


def _trainings_cell(costs: list[Cost]) -> str:
    """The models a chapter trains, those at one input size and batch named together."""
    groups: dict[str, list[str]] = {}
    for c in costs:
        size = f"{c.image_shape[0]}×{c.image_shape[1]} × {c.batch_size}"
        groups.setdefault(size, []).append(f"`{c.training.model}`")
    return "; ".join(f"{', '.join(models)} {size}" for size, models in groups.items()) or "–"


def table(profile: str = "full") -> str:
    """The estimate as a Markdown table, one row a chapter, torch and Keras side by side."""
    lines = ["| chapter | trainings (input × batch) | 10¹⁵ multiply-adds | minutes, torch / Keras "
             "| GiB, torch / Keras | verdict |",
             "|---|---|---|---|---|---|"]
    for e in estimates(profile):
        costs = e["costs"]
        work = sum(c.work for c in costs) / 1e15
        numbers = ([f"{work:.2f}", f"{e['torch_minutes']:.1f} / {e['keras_minutes']:.1f}",
                    f"{e['torch_gib']:.1f} / {e['keras_gib']:.1f}"] if costs else ["–"] * 3)
        chapter = e["chapter"].replace("_", " ")  # words wrap where a code span would not
        lines.append(f"| {chapter} | {_trainings_cell(costs)} | " + " | ".join(numbers) + f" | {_verdict(e)} |")
    return "\n".join(lines)


def assumptions() -> str:
    """The rates and factors the estimate rests on, as one line for the page."""
    return (f"Estimated, not measured: training steps only, at {RATE['mixed'] / 1e12:.1f} × 10¹² multiply-adds/s in "
            f"mixed precision (torch) and {RATE['fp32'] / 1e12:.1f} × 10¹² in fp32 (Keras), a step costing "
            f"{BACKWARD_FACTOR} forward passes; memory: {BYTES_PER_WEIGHT_TRAINED} bytes a trained weight, every "
            f"layer's output kept ({BYTES_PER_VALUE['mixed']} bytes a value in mixed precision, "
            f"{BYTES_PER_VALUE['fp32']} in fp32), earlier models' weights kept, plus {CUDA_OVERHEAD_GIB:g} GiB. "
            f"Goals: {GOAL_MINUTES} min and {GOAL_GIB} GiB a chapter.")


if __name__ == "__main__":
    print(table())
    print()
    print(assumptions())
