import asyncio
import gc

from telemetry import spawn


async def test_spawned_task_survives_garbage_collection() -> None:
    done = asyncio.Event()

    async def work() -> int:
        await asyncio.sleep(0.01)
        done.set()
        return 7

    task_id = id(spawn(work(), name="t"))
    gc.collect()
    await asyncio.wait_for(done.wait(), 1)
    assert task_id
