"""validate --dataset --ray and cache build --fleet on a three-node Ray cluster of this machine (conftest.py), and
both commands without Ray."""
from __future__ import annotations

import json
import sys

import pytest

from pymace.runtime.program_cache import parse_cache_file
from tests.cluster.conftest import pymace

WITHOUT_RAY = ("import sys; sys.modules['ray'] = None  # as if the [cluster] extra were not installed\n"
               "from pymace.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.mark.cluster
def test_dataset_on_three_nodes_gives_the_single_process_numbers(ray_cluster, classifier, photos, storage):
    address, env = ray_cluster
    _, model = classifier
    code, out, err = pymace("validate", model, "--dataset", photos, "--json", "--storage-dir", storage)
    assert code == 0, err
    alone = json.loads(out)
    code, out, err = pymace("validate", model, "--dataset", photos, "--ray", address, "--json", "--storage-dir",
                            storage, env=env)
    assert code == 0, err
    spread = json.loads(out)
    assert spread["summary"] == alone["summary"] and spread["images"] == alone["images"]
    assert alone["summary"]["images"] == 24 and alone["summary"]["labelled"] == 18
    workers = spread["cluster"]["workers"]
    engines = [w for w in workers if w["role"] == "engine"]
    assert spread["cluster"]["nodes"] == 3 and len({w["node"] for w in engines}) == 3
    assert {w["device"] for w in workers if w["role"] == "reference"} == {"onnxruntime"}
    devices = {w["device"].split("-")[0] for w in engines}
    assert devices == {"pthread", "basic"}, engines  # worker B's node runs PoCL's basic driver
    assert spread["timing"]["images_per_second"] > 0 and alone["timing"]["images_per_second"] > 0


def fleet(address, env, model, *options):
    code, text, err = pymace("cache", "build", model, "--fleet", address, *options, "--json", env=env)
    assert code == 0, err
    r = json.loads(text)
    assert r["mode"] == "ray" and r["all_warm"], r["warm"]
    return r, {b["device"].split("-")[0]: b for b in r["builds"]}


@pytest.mark.cluster
def test_fleet_merges_two_device_classes_into_one_file_each_node_starts_warm_from(ray_cluster, classifier, tmp_path):
    address, env = ray_cluster
    _, model = classifier
    out = tmp_path / "bundle"
    r, builds = fleet(address, env, model, "--fleet-resources", "poclA,poclB", "--tune", "--budget", "1", "-o", out)
    assert len(r["nodes"]) == 2 and sorted(builds) == ["basic", "pthread"]  # worker B runs PoCL's basic driver
    assert all(b["stats"]["programs_compiled"] >= 3 and b["entries"] >= 3 and b["tuned"] for b in builds.values())
    assert [w["programs_from_source"] for w in r["warm"]] == [0, 0]
    r, builds = fleet(address, env, model, "-o", out)  # every node: the head and worker A share one device
    assert len(r["nodes"]) == 3 and sorted(builds) == ["basic", "pthread"]
    assert [b["stats"]["programs_compiled"] for b in builds.values()] == [0, 0]  # all in the file already
    assert len(r["warm"]) == 3 and all(w["programs_from_cache"] >= 3 for w in r["warm"])

    merged = parse_cache_file((out / "mace_cl_compiled_program.bin").read_bytes())
    assert not merged.problems and {e.device.name.split("-")[0] for e in merged.entries} == {"basic", "pthread"}
    assert len({e.device for e in merged.entries}) == 2  # two devices to the program cache, not one
    code, text, err = pymace("inspect", out / "mace_cl_compiled_program.bin", "--json", "--device", "reference")
    report = json.loads(text)
    assert code == 0 and len(report["devices"]) == 2 and report["integrity"] == "ok", err
    code, text, _ = pymace("inspect", out / "pymace_tuned_params.json", "--json", "--device", "reference")
    assert sorted(d["name"].split("-")[0] for d in json.loads(text)["devices"]) == ["basic", "pthread"]


def test_without_ray_both_commands_run_in_this_process_and_say_so(classifier, photos, tmp_path, storage):
    _, model = classifier
    import subprocess

    def run(*args):
        done = subprocess.run([sys.executable, "-c", WITHOUT_RAY, *map(str, args)], capture_output=True, text=True,
                              timeout=300, env={**__import__("os").environ, "POCL_DEVICES": "pthread basic"})
        return done.returncode, done.stdout, done.stderr

    code, out, err = run("cache", "build", model, "--fleet", "-o", tmp_path, "--json", "--storage-dir", storage)
    assert code == 0, err
    assert "Ray is not installed (pip install 'pymace[cluster]'): building for this machine's devices in this " \
           "process" in err
    r = json.loads(out)
    assert r["mode"] == "local" and len(r["builds"]) == 2 and r["all_warm"]  # both PoCL drivers, one process
    code, out, err = run("validate", model, "--dataset", photos, "--ray", "--json", "--storage-dir", storage)
    assert code == 0 and "validating the dataset in this process" in err
    assert json.loads(out)["summary"]["images"] == 24 and "cluster" not in json.loads(out)


def test_cluster_options_mistakes_are_one_line(classifier, photos, capsys):
    from pymace.cli import main

    _, model = classifier
    for argv, message in [(["validate", model, "--ray", "127.0.0.1:1", "--dataset", str(photos)], "nothing answers"),
                          (["validate", model, "--ray"], "give --dataset"),
                          (["cache", "build", model, "--fleet-labels", "pool=a"], "go with --fleet"),
                          (["cache", "build", model, "--fleet", "--fleet-resources", "GPU=x"], "NAME=AMOUNT")]:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_fleet_selection_by_resources_and_labels():
    from pymace.errors import ClusterError
    from pymace.tools.cluster import Node, parse_selection, select_nodes

    nodes = [Node("h", "10.0.0.1", {"CPU": 0.0}, {}), Node("a", "10.0.0.2", {"CPU": 2.0, "poclA": 1.0}, {"pool": "a"}),
             Node("b", "10.0.0.3", {"CPU": 2.0, "GPU": 8.0}, {"pool": "b"})]

    def chosen(resources=None, labels=None) -> list[str]:
        return [n.id for n in select_nodes(nodes, *parse_selection(resources, labels))]

    assert chosen() == ["a", "b"]  # a head started with --num-cpus 0 takes no work
    assert chosen(["poclA,GPU=4"]) == ["a", "b"] and chosen(["GPU=4"], ["pool=b"]) == ["b"]
    for resources, labels in [(["GPU=16"], None), (["nosuch"], None), (None, ["pool=c"])]:
        with pytest.raises(ClusterError, match="no node of the cluster has"):
            chosen(resources, labels)
