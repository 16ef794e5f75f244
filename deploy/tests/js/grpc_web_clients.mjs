// Calls the gateway the way a browser app does: with Google's `grpc-web` runtime, in binary
// (`application/grpc-web+proto`) and in text (`application/grpc-web-text`, the library's
// default) mode, unary and server-streaming. Messages are built at run time from a
// descriptor set (no protoc plugin) with @bufbuild/protobuf.
//
//   node grpc_web_clients.mjs <gateway url> <api key> <descriptor set file>
//
// Prints one JSON line per call ({"format", "call", ...}); the Rust test asserts on them.
// Node has no XMLHttpRequest, which grpc-web uses; xhr2 provides one (made to stream below).
//
// grpc-web's binary mode hands a stream's messages over only once the response is complete
// (its documented limit: binary is for unary calls), so a stream that goes on, like health
// `Watch`, is watched in binary with Connect's gRPC-web transport, which reads the response
// as it arrives (fetch).

import XMLHttpRequest from "xhr2";
import grpcWeb from "grpc-web";
import { readFileSync } from "node:fs";
import { create, createFileRegistry, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

/**
 * xhr2 as browsers behave while a response streams in: each chunk extends `responseText` and
 * fires `readystatechange` again. xhr2 fills `responseText` only at the end and fires the
 * event once, so grpc-web's text mode, which reads the new text on each event, would see a
 * stream that does not end (health `Watch`) say nothing.
 */
class BrowserLikeXMLHttpRequest extends XMLHttpRequest {
  _onHttpResponseData(response, data) {
    const text =
      this._response === response && (this.responseType === "" || this.responseType === "text");
    const loading = this.readyState === XMLHttpRequest.LOADING;
    if (text) this.responseText = (this.responseText ?? "") + Buffer.from(data).toString("latin1");
    super._onHttpResponseData(response, data);
    if (text && loading) this._setReadyState(XMLHttpRequest.LOADING);
  }
}

globalThis.XMLHttpRequest = BrowserLikeXMLHttpRequest;

const [base, key, descriptorPath] = process.argv.slice(2);
if (!base || !key || !descriptorPath) {
  console.error("usage: node grpc_web_clients.mjs <gateway url> <api key> <descriptor set file>");
  process.exit(2);
}
const registry = createFileRegistry(
  fromBinary(FileDescriptorSetSchema, readFileSync(descriptorPath)),
);
// A stream that neither answers nor ends within this long is reported, not waited for.
const STREAM_TIMEOUT_MS = 10_000;

/** The grpc-web descriptor of `service`/`method`, encoding with the registry's types. */
function descriptor(service, method) {
  const rpc = registry.getService(service)?.methods.find((m) => m.name === method);
  if (!rpc) throw new Error(`no method ${service}/${method} in the descriptor set`);
  // gRPC-web has no client streaming: a bidi method (reflection) is called with one request.
  const kind =
    rpc.methodKind === "unary" ? grpcWeb.MethodType.UNARY : grpcWeb.MethodType.SERVER_STREAMING;
  return {
    path: `${base}/${service}/${method}`,
    method: new grpcWeb.MethodDescriptor(
      `/${service}/${method}`,
      kind,
      Object,
      Object,
      (request) => toBinary(rpc.input, create(rpc.input, request)),
      (bytes) => toJson(rpc.output, fromBinary(rpc.output, bytes)),
    ),
  };
}

/** A unary call: `{response}` or `{code, message}`. */
async function unary(client, service, method, request, metadata = {}) {
  const { path, method: md } = descriptor(service, method);
  try {
    return { response: await client.unaryCall(path, request, metadata, md) };
  } catch (e) {
    return { code: e.code, message: e.message };
  }
}

/**
 * A server-streaming call: `{messages, code}`. With `first`, the call is cancelled after the
 * first message (a stream that would otherwise go on, like Health/Watch).
 */
function streaming(client, service, method, request, { first = false } = {}) {
  const { path, method: md } = descriptor(service, method);
  return new Promise((resolve) => {
    const messages = [];
    const stream = client.serverStreaming(path, request, {}, md);
    const timer = setTimeout(() => {
      stream.cancel();
      resolve({ messages, code: "timeout" });
    }, STREAM_TIMEOUT_MS);
    const done = (result) => {
      clearTimeout(timer);
      resolve(result);
    };
    stream.on("data", (message) => {
      messages.push(message);
      if (first) {
        stream.cancel();
        done({ messages, code: 0 });
      }
    });
    stream.on("error", (e) => done({ messages, code: e.code, message: e.message }));
    stream.on("end", () => done({ messages, code: 0 }));
  });
}

/** Health `Watch` with Connect's binary gRPC-web transport, cancelled after the first message. */
async function connectWatch(service) {
  const health = registry.getService("grpc.health.v1.Health");
  const client = createClient(
    health,
    createGrpcWebTransport({ baseUrl: base, useBinaryFormat: true }),
  );
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), STREAM_TIMEOUT_MS);
  const messages = [];
  try {
    for await (const message of client.watch({ service }, { signal: abort.signal })) {
      messages.push(toJson(health.method.watch.output, message));
      break;
    }
    return { client: "connect-web", messages, code: 0 };
  } catch (e) {
    return { client: "connect-web", messages, code: abort.signal.aborted ? "timeout" : e.code, message: e.message };
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

function report(format, call, result) {
  console.log(JSON.stringify({ format, call, ...result }));
}

for (const format of ["binary", "text"]) {
  const client = new grpcWeb.GrpcWebClientBase({ format });
  const withKey = { "x-api-key": key };

  report(format, "get_me", await unary(client, "crm.auth.v1.AuthService", "GetMe", {}, withKey));
  report(format, "get_me_without_key", await unary(client, "crm.auth.v1.AuthService", "GetMe", {}));
  report(
    format,
    "create_pipeline",
    await unary(
      client,
      "crm.pipeline.v1.PipelineService",
      "CreatePipeline",
      { name: `grpc-web ${format}` },
      withKey,
    ),
  );
  report(
    format,
    "list_pipelines",
    await unary(client, "crm.pipeline.v1.PipelineService", "ListPipelines", {}, withKey),
  );
  report(
    format,
    "health_check",
    await unary(client, "grpc.health.v1.Health", "Check", { service: "" }),
  );
  report(
    format,
    "health_watch",
    format === "text"
      ? await streaming(client, "grpc.health.v1.Health", "Watch", { service: "" }, { first: true })
      : await connectWatch(""),
  );
  for (const version of ["v1", "v1alpha"]) {
    report(
      format,
      `reflection_${version}`,
      await streaming(client, `grpc.reflection.${version}.ServerReflection`, "ServerReflectionInfo", {
        messageRequest: { case: "listServices", value: "" },
      }),
    );
  }
}
