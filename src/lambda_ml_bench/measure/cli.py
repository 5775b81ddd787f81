"""lmb compare | report | deploy | destroy | credentials: measuring, and putting the functions on AWS."""
from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path

from lambda_ml_bench import lambda_facts, spec
from lambda_ml_bench.build.platforms import ARCHITECTURES
from lambda_ml_bench.local_lambda.functions import where_it_runs
from lambda_ml_bench.measure.study import FEATURES
from lambda_ml_bench.terminal import say


def _interrupt(*_) -> None:
    """SIGTERM stops a sweep as Ctrl-C does: the running invocations finish, then everything is put back."""
    from lambda_ml_bench.measure.sweep.cells import Interrupted

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Interrupted("SIGTERM")


def _where(args: argparse.Namespace, retries):
    """(client, region, terraform outputs or None): an endpoint (--endpoint-url, AWS_ENDPOINT_URL, --localstack) is
    listed; otherwise the functions Terraform deployed, in their region unless --region says otherwise."""
    from lambda_ml_bench.measure.client import lambda_client
    from lambda_ml_bench.measure.targets import region_of, terraform_targets

    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint or args.localstack:
        region = args.region or os.environ.get("AWS_REGION", "us-east-1")
        return lambda_client(region, endpoint, args.localstack, retries), region, None
    outputs = terraform_targets(Path(args.terraform_dir))
    region = args.region or region_of(outputs)
    say(f"functions in {region}")
    return lambda_client(region, retries=retries), region, outputs


def _targets(args: argparse.Namespace, client, outputs: dict | None) -> list:
    from lambda_ml_bench.measure.sweep.cells import Target
    from lambda_ml_bench.measure.targets import handler_for, targets_from_listing, targets_from_terraform

    function = args.function or ("predict" if args.payload else "benchmark")
    if not args.backend:  # the packaged model's own backend for predict (scikit-learn before a package says)
        own = spec.load().package_manifest().get("model", {}).get("backends", ["sklearn"])[0]
        args.backend = [own if function == "predict" else "sklearn"]
    targets = []
    for backend in args.backend:
        key, handler = handler_for(function, backend)
        names = (targets_from_terraform(outputs, key) if outputs is not None
                 else targets_from_listing(client, args.pattern or key, handler))
        targets += [Target(a, n, backend) for a, n in sorted(names.items()) if a in (args.arch or list(ARCHITECTURES))]
    return targets


def _workloads(args: argparse.Namespace) -> list:
    from lambda_ml_bench.measure import study
    from lambda_ml_bench.measure.sweep.cells import CompareError, Workload

    if not args.payload:
        return [Workload(f"{n:,} features", study.event(n, args.cycles), n) for n in args.features]
    try:
        return [Workload(Path(f).name, json.loads(Path(f).read_text())) for f in args.payload]
    except (OSError, ValueError) as err:
        raise CompareError(f"a --payload file cannot be read as a JSON event: {err}") from err


def cmd_compare(args: argparse.Namespace) -> None:
    from lambda_ml_bench.measure.client import RetryCount
    from lambda_ml_bench.measure.report import render
    from lambda_ml_bench.measure.sweep import cleaner
    from lambda_ml_bench.measure.sweep.cells import CompareError, Interrupted, plan
    from lambda_ml_bench.measure.sweep.driver import Sweep
    from lambda_ml_bench.measure.targets import default_parallel

    retries = RetryCount()
    client, region, outputs = _where(args, retries)
    out = Path(args.out or f"results/compare-{time.strftime('%Y%m%dT%H%M%S')}.jsonl")
    sweep = Sweep(client, out, say, warm=args.warm, region=region, retries=retries)
    if args.restore:
        if failed := cleaner.restore_from(sweep, Path(args.restore)):
            raise CompareError(f"could not put back: {failed}")
        say(f"restored from {args.restore}")
        return
    targets = _targets(args, client, outputs)
    memory = args.memory or sorted({client.get_function_configuration(FunctionName=t.name)["MemorySize"]
                                    for t in targets})
    workloads = _workloads(args)
    cells = plan(targets, memory, workloads, args.rounds)
    local = where_it_runs(client.get_function(FunctionName=targets[0].name).get("Tags", {}))["environment"] != "Lambda"
    sweep.parallel = args.parallel or default_parallel(client, len(cells), local)
    say(f"{len(cells)} cells ({len(targets)} functions ({', '.join(args.backend)}) x {len(memory)} memory sizes x "
        f"{len(workloads)} workloads x {args.rounds} rounds), "
        f"{sweep.parallel} at a time; results go to {out} as they arrive; the configurations to restore are in "
        f"{sweep.restore_file}")
    signal.signal(signal.SIGTERM, _interrupt)
    problem = None
    try:
        sweep.run(cells)
    except (CompareError, Interrupted, KeyboardInterrupt) as err:
        problem = err
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if retries.total:
            say(f"retried calls: {dict(retries.by_code)}")
    if out.exists() and out.stat().st_size:
        try:
            report = render(out, out.parent, args.balance, args.allow_emulated)
            say(f"report: {report.markdown} and {report.chart}")
            for recommendation in report.recommendations:
                print(recommendation.line())
        except ValueError as err:
            say(f"no report: {err}")
    if problem is not None:
        stopped = isinstance(problem, (Interrupted, KeyboardInterrupt))
        raise CompareError(f"{'stopped' if stopped else 'failed'}: {problem}; every function is back as it was") \
            from problem


def cmd_report(args: argparse.Namespace) -> None:
    from lambda_ml_bench.measure.report import render

    report = render(
        Path(args.result),
        Path(args.out_dir) if args.out_dir else Path(args.result).parent,
        args.balance,
        args.allow_emulated,
    )
    print(report.markdown.read_text())


def _newest_sweep() -> Path:
    from lambda_ml_bench.measure.plan import PlanError
    from lambda_ml_bench.paths import REPO

    found = sorted((REPO / "results").glob("compare-*.jsonl"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise PlanError("no results/compare-*.jsonl to plan from: run `lmb compare` first, or pass --from FILE")
    return found[-1]


def cmd_plan(args: argparse.Namespace) -> None:
    from lambda_ml_bench.measure import plan, traffic
    from lambda_ml_bench.paths import REPO

    source = Path(args.source) if args.source else _newest_sweep()
    shape = traffic.parse(args.traffic)
    out = Path(args.out) if args.out else source.parent / f"plan-{source.stem.removeprefix('compare-')}"
    constraints = plan.Constraints(plan.parse_constraint(args.p99, "ms"), plan.parse_constraint(args.budget, "usd"),
                                   args.allow_emulated)
    recs = plan.read_records(source)
    say(f"planning {shape.spec} from {source} ...")
    doc, answers = plan.plan(recs, shape, out, constraints=constraints, region=args.region, seed=args.seed,
                             prices_file=Path(args.prices) if args.prices else None, idle_s=args.idle_seconds,
                             restore_ms=args.restore_ms, with_chart=not args.no_chart, workload=args.workload)
    say(f"{len(doc['options'])} options simulated in {doc['simulated_in_s']:.1f} s; wrote {out}/plan.json and plan.md")
    for w in doc["workloads"]:
        print(plan.answer_line(w["answer"], w["workload"]))
    if args.write_tfvars:
        if len(answers) != 1:
            raise plan.PlanError("--write-tfvars needs one workload: choose it with --workload")
        (best,) = answers.values()
        if best is None:
            raise plan.PlanError("no option meets the constraints: nothing to write")
        target = Path(args.write_tfvars)
        target = target if target.is_absolute() else REPO / target
        from lambda_ml_bench.files import write_json

        write_json(target, plan.tfvars(best, plan.handler_of(recs, best.m.backend)))
        say(f"wrote {target}: `terraform apply` (or `lmb deploy`) deploys it")


def cmd_replay(args: argparse.Namespace) -> None:
    from rich.progress import Progress

    from lambda_ml_bench.measure import plan, replay, traffic
    from lambda_ml_bench.measure.client import lambda_client

    endpoint = replay.loopback(args.endpoint_url)
    shape = traffic.parse(args.traffic)
    source = Path(args.source)
    recs = plan.read_records(source)
    payload = Path(args.payload).read_bytes() if args.payload else b"{}"
    client = lambda_client(args.region, endpoint, attempts=1, connections=replay.WORKERS)
    times = replay.schedule(shape, args.duration, args.max_requests, args.seed)
    out = Path(args.out) if args.out else Path("results") / f"replay-{time.strftime('%Y%m%d-%H%M%S')}"
    with Progress(transient=True) as bar:
        task = bar.add_task(f"replaying {len(times):,} requests over {args.duration:g} s", total=len(times))
        doc = replay.replay(client, args.function, args.qualifier, payload, shape, args.duration, recs, str(source),
                            out, seed=args.seed, max_requests=args.max_requests, workload=args.workload,
                            progress=lambda done: bar.update(task, completed=done), times=times)
    print(replay.report(doc))
    say(f"wrote {out}/replay.json and replay.md")


def register(sub) -> None:
    """Add the measuring and deploying commands to the command line."""
    p = sub.add_parser("compare", help="sweep architecture x memory x workload on deployed (or local) functions")
    p.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="a Lambda API endpoint (the local Lambda: http://127.0.0.1:3001)",
    )
    p.add_argument("--localstack", action="store_true", help="target LocalStack through localstack-client")
    p.add_argument("--terraform-dir", default="terraform", help="where `terraform output` names the functions")
    p.add_argument("--pattern", help="with an endpoint: functions whose name contains this (default: the handler)")
    p.add_argument(
        "--region",
        help="default: the functions' region from `terraform output` (an endpoint: AWS_REGION, else us-east-1)",
    )
    p.add_argument("--arch", action="append", choices=list(ARCHITECTURES))
    p.add_argument("--features", type=int, nargs="+", default=list(FEATURES))
    p.add_argument(
        "--function",
        choices=["benchmark", "predict"],
        help="which handler's functions (default: predict with --payload, else benchmark)",
    )
    p.add_argument(
        "--backend",
        nargs="+",
        choices=list(spec.load().backends),
        help="serving backends to sweep side by side (predict: the packaged model's own, sklearn, xgboost or "
        "lightgbm, and onnx when exported; default: its own)",
    )
    p.add_argument(
        "--payload",
        nargs="+",
        help="request files (JSON events) for the predict functions: each is a "
        "workload of its own, instead of the study",
    )
    p.add_argument("--memory", type=int, nargs="+", help="memory sizes (MB) to sweep; default: as deployed")
    p.add_argument("--cycles", type=int, default=40, help="cycles per invocation (the study's 40)")
    p.add_argument("--rounds", type=int, default=2, help="repetitions of every cell, spread over the run")
    p.add_argument("--warm", type=int, default=3, help="warm invocations after each cell's cold start")
    p.add_argument(
        "--parallel", type=int, help="cells at once (default: 1 locally, else the account's unreserved concurrency)"
    )
    p.add_argument("--balance", type=float, default=0.5, help="the balanced pick's weight: 0 fastest .. 1 cheapest")
    p.add_argument("--allow-emulated", action="store_true", help="let emulated arm64 figures into the recommendation")
    p.add_argument("--restore", metavar="FILE", help="put back the configurations a sweep saved, delete its leftovers")
    p.add_argument("--out", help="result file (JSONL), default results/compare-<time>.jsonl")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("report", help="render the Markdown table and PNG chart of a result file")
    p.add_argument("result", help="results/*.json (pytest-benchmark) or results/*.jsonl (bench compare)")
    p.add_argument("--out-dir", help="default: beside the result file")
    p.add_argument("--balance", type=float, default=0.5, help="the balanced pick's weight: 0 fastest .. 1 cheapest")
    p.add_argument("--allow-emulated", action="store_true", help="let emulated arm64 figures into the recommendation")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("plan", help="a month of your traffic under every compute mode: cost, tail latency, the answer")
    p.add_argument("--from", dest="source", help="a sweep's records (default: the newest results/compare-*.jsonl)")
    p.add_argument("--traffic", required=True, help="steady:50/s | diurnal:peak=200/s,trough=5/s | "
                   "burst:base=2/s,peak=300/s,every=1h,for=2m | a file of request times or `minute,count` lines")
    p.add_argument("--out", help="directory for plan.json, plan.md and the chart (default: beside the records)")
    p.add_argument("--p99", help="the latency to meet, such as 300ms")
    p.add_argument("--budget", help="the monthly budget in USD, such as 50/month")
    p.add_argument("--workload", help="plan for this workload of the records only")
    p.add_argument("--allow-emulated", action="store_true", help="let emulated arm64 figures into the plan")
    p.add_argument("--idle-seconds", type=float, default=lambda_facts.IDLE_RECLAIM_S,
                   help=f"how long an idle environment lives (default {lambda_facts.IDLE_RECLAIM_S}, as measured)")
    p.add_argument("--region", default=lambda_facts.DEFAULT_REGION, help="whose prices (default us-east-1)")
    p.add_argument("--prices", metavar="FILE", help="your own prices (JSON: any field of lambda_facts.Prices)")
    p.add_argument("--restore-ms", type=float, help="SnapStart's restore time, when the records measured none")
    p.add_argument("--seed", type=int, default=0, help="the simulation's random seed")
    p.add_argument("--no-chart", action="store_true", help="skip the break-even chart (it simulates 7 traffic levels)")
    p.add_argument("--write-tfvars", nargs="?", const="terraform/plan.auto.tfvars.json", metavar="PATH",
                   help="write the answer as Terraform variables (default terraform/plan.auto.tfvars.json)")
    p.set_defaults(func=cmd_plan)
    p = sub.add_parser("replay", help="send a short traffic shape to the local Lambda; set it beside the simulation")
    p.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), required=not os.environ.get(
        "AWS_ENDPOINT_URL"), help="the local Lambda (loopback only), e.g. http://127.0.0.1:3001")
    p.add_argument("--function", required=True, help="the function to send it to")
    p.add_argument("--qualifier", default="$LATEST")
    p.add_argument("--traffic", required=True, help="a shape, as for plan (its first --duration seconds are sent)")
    p.add_argument("--duration", type=float, default=180.0, help="seconds of the shape to send (default 180)")
    p.add_argument("--max-requests", type=int, default=2000, help="refuse a replay of more requests (default 2,000)")
    p.add_argument("--payload", help="the request (a JSON event file), as the sweep measured it")
    p.add_argument("--from", dest="source", required=True, help="a sweep's records of this function, to simulate")
    p.add_argument("--workload", help="which workload of the records the payload is")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="directory for replay.json and replay.md (default results/replay-<time>)")
    p.set_defaults(func=cmd_replay)
