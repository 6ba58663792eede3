"""Server reflection under both ``grpc.reflection.v1`` and ``grpc.reflection.v1alpha``.

The installed grpcio-reflection only ships the v1alpha service. The v1
service has the same messages on the wire under a new package name, so we
register its descriptor (derived from the v1alpha one by renaming the
package) and serve it with the same servicer; newer grpcurl and other tools
ask for v1 first, older ones for v1alpha.
"""

from __future__ import annotations

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection
from grpc_reflection.v1alpha import reflection_pb2 as alpha_pb2

__all__ = ["V1_SERVICE_NAME", "V1ALPHA_SERVICE_NAME", "enable_reflection"]

V1ALPHA_SERVICE_NAME = reflection.SERVICE_NAME
V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
_V1_FILE = "grpc/reflection/v1/reflection.proto"


def _register_v1_descriptor() -> None:
    """Add the v1 reflection file to the default pool (once) so it can be described."""
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    fd = descriptor_pb2.FileDescriptorProto()
    alpha_pb2.DESCRIPTOR.CopyToProto(fd)
    old, new = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."
    fd.name = _V1_FILE
    fd.package = "grpc.reflection.v1"
    fd.options.Clear()
    for msg in fd.message_type:
        for field in msg.field:
            if field.type_name.startswith(old):
                field.type_name = new + field.type_name[len(old) :]
    for service in fd.service:
        for method in service.method:
            method.input_type = new + method.input_type[len(old) :]
            method.output_type = new + method.output_type[len(old) :]
    pool.Add(fd)


def enable_reflection(service_names: list[str], server: grpc.aio.Server) -> None:
    """Serve reflection for ``service_names`` (plus both reflection services)."""
    _register_v1_descriptor()
    names = [*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME]
    servicer = reflection.aio.ReflectionServicer(names)
    reflection.enable_server_reflection(names, server)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=alpha_pb2.ServerReflectionRequest.FromString,
        response_serializer=alpha_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(V1_SERVICE_NAME, {"ServerReflectionInfo": handler}),)
    )
