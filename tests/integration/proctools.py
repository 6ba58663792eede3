"""Helpers shared by the real-process tests: run the `coordsvc` CLI, ask Admin.Status."""

from __future__ import annotations

import asyncio
import sys

import grpc

from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc as apb_grpc

__all__ = ["cli", "admin_status"]


async def cli(*args: str, timeout: float = 120.0) -> tuple[int, str, str]:
    """Run ``python -m coordsvc ARGS`` without blocking the loop; (code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "coordsvc",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def admin_status(address: str) -> apb.StatusResponse:
    """The server's Admin.Status."""
    async with grpc.aio.insecure_channel(address) as ch:
        return await apb_grpc.AdminStub(ch).Status(apb.StatusRequest(), timeout=10)
