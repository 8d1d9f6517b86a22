import io

from django.core.management.base import BaseCommand

from mlservice.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def command(stream) -> BaseCommand:
    return BaseCommand(stdout=stream, no_color=True)


def test_piped_output_gets_a_line_per_tenth_and_a_timed_summary():
    out = io.StringIO()
    bar = Progress(command(out), total=1000, label="Purging")
    for done in range(0, 1001, 50):
        bar.update(done)
    bar.finish("Deleted 1,000 prediction(s).")
    lines = out.getvalue().splitlines()
    assert len(lines) == 12  # 0%, 10%, ..., 100%, then the summary
    assert lines[5] == "Purging [###############...............] 500/1,000 (50%)"
    assert lines[-1].startswith("Deleted 1,000 prediction(s). (") and lines[-1].endswith("s)")


def test_on_a_terminal_the_bar_redraws_in_place():
    out = Terminal()
    bar = Progress(command(out), total=4, label="Seeding")
    for step in ("training", "exporting", "registering", "aliasing"):
        bar.step(step)
    bar.finish("Seeded iris.")
    text = out.getvalue()
    assert text.count("\r") == 4 and "4/4 (100%) aliasing" in text
    assert text.splitlines()[-1].startswith("Seeded iris.")


def test_staged_work_names_each_step_when_piped():
    out = io.StringIO()
    bar = Progress(command(out), total=2, label="Registering")
    bar.step("validating iris.onnx (onnx)...")
    bar.step("pointing production at v1...")
    assert out.getvalue().splitlines() == [
        "Registering [###############...............] 1/2 (50%) validating iris.onnx (onnx)...",
        "Registering [##############################] 2/2 (100%) pointing production at v1...",
    ]
