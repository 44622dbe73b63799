import os

import numpy as np
import pytest

import coursekit
from coursekit import profiles, runtime


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("COURSEKIT_FRAMEWORK", raising=False)
    monkeypatch.delenv("COURSEKIT_PROFILE", raising=False)
    monkeypatch.delenv("COURSEKIT_SEED", raising=False)
    return monkeypatch


def test_defaults_are_torch_and_quick_on_a_cpu(clean_env, capsys):
    run = coursekit.setup()
    assert (run.framework, run.profile, run.device) == ("torch", "quick", "cpu")
    line = capsys.readouterr().out.strip()
    assert "framework torch" in line and "profile quick" in line and "device cpu" in line
    assert "torch " in line and "\n" not in line


def test_environment_variables_choose_and_arguments_win(clean_env):
    clean_env.setenv("COURSEKIT_FRAMEWORK", "keras")
    clean_env.setenv("COURSEKIT_PROFILE", "full")
    run = coursekit.setup(verbose=False)
    assert (run.framework, run.profile) == ("keras", "full")
    run = coursekit.setup(framework="torch", profile="quick", verbose=False)
    assert (run.framework, run.profile) == ("torch", "quick")


@pytest.mark.parametrize("variable, value", [("COURSEKIT_FRAMEWORK", "jax"), ("COURSEKIT_PROFILE", "huge")])
def test_unknown_values_are_refused_naming_the_variable(clean_env, variable, value):
    clean_env.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):
        coursekit.setup(verbose=False)


def test_tensorflow_memory_growth_is_requested(clean_env):
    clean_env.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    coursekit.setup(verbose=False)
    assert os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"


def test_seeds_make_runs_repeatable(clean_env):
    import torch

    coursekit.setup(seed=3, verbose=False)
    first = (np.random.rand(3), torch.rand(3))
    coursekit.setup(seed=3, verbose=False)
    second = (np.random.rand(3), torch.rand(3))
    np.testing.assert_array_equal(first[0], second[0])
    assert torch.equal(first[1], second[1])


def test_the_seed_comes_from_the_environment_is_printed_and_the_argument_wins(clean_env, capsys):
    import torch

    assert coursekit.setup(verbose=False).seed == 0
    clean_env.setenv("COURSEKIT_SEED", "2")
    run = coursekit.setup()
    assert run.seed == 2 and "seed 2" in capsys.readouterr().out
    from_environment = torch.rand(3)
    coursekit.setup(seed=2, verbose=False)
    assert torch.equal(torch.rand(3), from_environment)
    assert coursekit.setup(seed=1, verbose=False).seed == 1


@pytest.mark.parametrize("value", ["one", "1.5", "-1"])
def test_a_bad_seed_is_refused_naming_the_variable(clean_env, value):
    clean_env.setenv("COURSEKIT_SEED", value)
    with pytest.raises(ValueError, match="COURSEKIT_SEED"):
        coursekit.setup(verbose=False)


def test_settings_come_from_the_one_table(clean_env):
    run = coursekit.setup(profile="quick", verbose=False)
    assert run.settings("basics") == profiles.TABLE["basics"]["quick"]
    with pytest.raises(KeyError, match="no settings"):
        run.settings("nonexistent")
    assert run.settings("segnet", profile="full") == profiles.TABLE["segnet"]["full"]
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        run.settings("segnet", profile="huge")


def test_full_profile_is_larger_than_quick():
    for row in profiles.TABLE.values():
        quick, full = row["quick"], row["full"]
        assert full.image_size >= quick.image_size and full.train_images >= quick.train_images


def test_profile_page_shows_the_table_of_the_code(root):
    page = (root / "book" / "profiles.md").read_text()
    assert profiles.table_markdown() in page, "book/profiles.md is stale: run python -m coursekit.profiles"


def test_describe_names_versions():
    line = runtime.describe(runtime.Run("keras", "quick", "cpu", 0))
    assert "tensorflow" in line and "keras" in line and "framework keras" in line


def test_the_top_level_names_are_the_package_functions_and_import_no_framework():
    import subprocess
    import sys

    from coursekit import models, runtime, train

    assert coursekit.build is models.build and coursekit.fit is train.fit and coursekit.seed is runtime.seed_everything
    assert coursekit.evaluate is train.evaluate and coursekit.predict is train.predict
    with pytest.raises(AttributeError, match="no attribute 'fitt'"):
        coursekit.fitt  # noqa: B018
    code = "import sys, coursekit; print(sorted({'torch', 'tensorflow', 'keras'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


@pytest.mark.parametrize("framework, absent", [("torch", "tensorflow"), ("keras", "torch")])
def test_setup_imports_only_the_chosen_framework(framework, absent):
    import subprocess
    import sys

    code = (f"import sys, coursekit; run = coursekit.setup({framework!r}, verbose=False); "
            f"print({absent!r} in sys.modules, run.device)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSEKIT_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["False", "cpu"], out.stderr[-2000:]


def test_the_device_is_named_cuda_in_both_frameworks_when_a_gpu_is_seen(monkeypatch):
    monkeypatch.setattr(runtime, "_gpu_visible", lambda framework: True)
    assert runtime._pick_device("torch") == runtime._pick_device("keras") == "cuda"


def test_seeding_later_seeds_the_frameworks_already_imported(clean_env):
    import torch

    coursekit.seed(5)
    first = torch.rand(2)
    coursekit.seed(5)
    assert torch.equal(first, torch.rand(2))
    with pytest.raises(ValueError, match="framework is 'jax'"):
        coursekit.seed(5, "jax")


def test_a_torch_chapter_that_shows_a_keras_model_prints_no_library_noise():
    """In a Jupyter kernel (as the book runs chapters), importing a Keras model module and the download
    module writes nothing to stderr: no TensorFlow start-up log, no tqdm warning about widgets."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    cells = ["import coursekit\nrun = coursekit.setup(framework='torch')",
             "from coursekit.models.keras import fcn\nfrom coursekit.data import download"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in cells])
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    stderr = [output.get("text", "") for cell in notebook.cells for output in cell.outputs
              if output.get("name") == "stderr"]
    assert stderr == [], stderr


@pytest.mark.parametrize("hidden, framework, other", [("torch", "keras", "torch"), ("tensorflow", "torch", "keras")])
def test_a_run_with_one_framework_installed_lists_only_that_one(root, hidden, framework, other):
    """tests/hide_framework makes a framework look uninstalled; setup() and run.frameworks then leave it out."""
    import subprocess
    import sys

    script = ("import coursekit, importlib.util\n"
              f"assert importlib.util.find_spec({hidden!r}) is None\n"
              f"run = coursekit.setup(framework={framework!r})\n"
              "print('FRAMEWORKS', run.frameworks)\n"
              f"coursekit.setup(framework={other!r})\n")
    env = dict(os.environ, COURSEKIT_HIDE=hidden, PYTHONPATH=os.pathsep.join(
        [str(root / "tests" / "hide_framework"), str(root / "src")]))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert f"FRAMEWORKS ('{framework}',)" in done.stdout, done.stdout + done.stderr
    assert f"{hidden} " not in done.stdout.split("|")[-1], "the start line names no version of a missing framework"
    assert f"framework {other!r} needs the package {'torch' if other == 'torch' else 'tensorflow'!r}" in done.stderr
    both = runtime.Run(framework, "quick", "cpu", 0).frameworks
    assert both == (framework, other), "with both installed, this run's framework comes first"


@pytest.mark.parametrize("name, module, qualname", [
    ("coursekit.models.torch.unet:UNet.forward", "coursekit.models.torch.unet", "UNet.forward"),
    ("coursekit.models.keras.unet:assemble", "coursekit.models.keras.unet", "assemble"),
    ("coursekit.models.torch.blocks:ConvBNReLU", "coursekit.models.torch.blocks", "ConvBNReLU"),
    ("coursekit.metrics:confusion_matrix", "coursekit.metrics", "confusion_matrix"),
])
def test_show_source_by_name_reads_what_inspect_reads(name, module, qualname):
    """A chapter names the code it shows, so it can show PyTorch's where torch is not installed."""
    import importlib

    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    assert coursekit.show_source(name).data == coursekit.show_source(obj).data


def test_show_source_by_name_says_what_it_could_not_find():
    with pytest.raises(ValueError, match="unet.py has no 'UNet.backward'.*no 'backward'"):
        coursekit.show_source("coursekit.models.torch.unet:UNet.backward")
    with pytest.raises(ValueError, match="no module 'coursekit.nothing'"):
        coursekit.show_source("coursekit.nothing:f")
    with pytest.raises(ValueError, match="not in coursekit"):
        coursekit.show_source("numpy:array")
    assert coursekit.show_source("coursekit.models.torch.unet").data.count("class UNet") == 1
