"""Read what a run wrote to TensorBoard, with TensorBoard's own reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} from every event file under ``run_dir``."""
    scalars: dict[str, list[tuple[int, float]]] = {}
    for events in sorted(run_dir.rglob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            scalars.setdefault(tag, []).extend((e.step, e.value) for e in accumulator.Scalars(tag))
    return scalars


def read_hparams(logdir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What TensorBoard's HPARAMS tab gets from ``logdir``, asked of its own hparams plugin.

    Returns (experiment, sessions): the experiment's ``hparams`` (name -> type) and
    ``metrics`` (tag names); per session its ``name`` (the run folder, relative), ``status``,
    ``hparams`` {name: value} and ``metrics`` {tag: value}. The same two requests the
    dashboard makes (/experiment, /session_groups), without a server.
    """
    from google.protobuf import json_format
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import (
        api_pb2,
        backend_context,
        get_experiment,
        list_session_groups,
    )

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    tb = base_plugin.TBContext(logdir=str(logdir), multiplexer=multiplexer, data_provider=provider)
    backend = backend_context.Context(tb)
    request_context = context.RequestContext()
    experiment = get_experiment.Handler(
        request_context, backend, "", api_pb2.GetExperimentRequest()
    ).run()
    every_status = api_pb2.Status.values()  # the dashboard's status filter, all ticked
    request = api_pb2.ListSessionGroupsRequest(slice_size=1000, allowed_statuses=every_status)
    groups = list_session_groups.Handler(request_context, backend, "", request).run()
    described = {
        "hparams": {h.name: api_pb2.DataType.Name(h.type) for h in experiment.hparam_infos},
        "metrics": sorted(m.name.tag for m in experiment.metric_infos),
    }
    sessions = []
    for group in groups.session_groups:
        for session in group.sessions:
            sessions.append(
                {
                    "name": session.name,
                    "status": api_pb2.Status.Name(session.status),
                    "hparams": {
                        name: json_format.MessageToDict(value)
                        for name, value in group.hparams.items()
                    },
                    "metrics": {m.name.tag: m.value for m in session.metric_values},
                }
            )
    return described, sessions
