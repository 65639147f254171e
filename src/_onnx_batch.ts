/**
 * Makes an ONNX model exported with batch size 1 accept any batch size, by
 * editing its protobuf bytes directly (no onnx / protobuf dependency).
 *
 * Two edits are made:
 * - dim 0 of the graph inputs and outputs becomes the symbolic `batch`, and
 *   dim 0 of intermediate `value_info` shapes becomes unknown;
 * - the leading `1` of every int64 shape constant fed to a `Reshape` becomes
 *   `0`, which ONNX Reshape reads as "copy this dim from the input".
 *
 * Only the messages on the path to an edit are re-encoded; every other byte is
 * copied verbatim, so the result is deterministic and preserves everything else.
 *
 * @module
 */
import { Vec2FaceError } from "./errors.ts";
import { concatBytes } from "./_fs.ts";
import { field as encodeLengthDelimited } from "./_onnx_write.ts";

// Field numbers from onnx.proto, limited to what this module reads or writes.
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const GRAPH_VALUE_INFO = 13;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
const ATTRIBUTE_NAME = 1;
const ATTRIBUTE_I = 3;
const ATTRIBUTE_T = 5;
const ATTRIBUTE_G = 6;
const ATTRIBUTE_GRAPHS = 11;
const TENSOR_DATA_TYPE = 2;
const TENSOR_INT64_DATA = 7;
const TENSOR_NAME = 8;
const TENSOR_RAW_DATA = 9;
const TENSOR_DATA_LOCATION = 14;
const VALUE_INFO_NAME = 1;
const VALUE_INFO_TYPE = 2;
const TYPE_TENSOR_TYPE = 1;
const TENSOR_TYPE_SHAPE = 2;
const SHAPE_DIM = 1;
const DIM_VALUE = 1;
const DIM_PARAM = 2;
const DATA_TYPE_INT64 = 7;
const DATA_LOCATION_EXTERNAL = 1;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/** Name given to the new symbolic batch dimension. */
const BATCH_DIM_PARAM = "batch";

/** Result of {@linkcode makeBatchDynamic}. */
export interface BatchDynamicModel {
  /** The edited model bytes (a new array; the input is not modified). */
  model: Uint8Array;
  /** Number of Reshape nodes whose shape constant had its leading 1 changed to 0. */
  reshapesPatched: number;
}

/**
 * Rewrites a batch-1 ONNX model so it runs at any batch size: graph inputs and
 * outputs get the symbolic dim 0 `batch`, and Reshape shape constants that
 * start with 1 start with 0 instead ("copy dim 0 from the input").
 *
 * The same input bytes always give the same output bytes, and a model that
 * was already patched comes back unchanged with `reshapesPatched` 0.
 * It assumes, as in models exported from a batch-1 trace, that dim 0 of each
 * reshaped activation is the batch; a shape constant that is shared with
 * other ops, or a Reshape with `allowzero=1`, is left alone.
 *
 * @example Patch the smallest model: an empty graph, nothing to change
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeBatchDynamic } from "./_onnx_batch.ts";
 * // A ModelProto holding only an empty graph (field 7, length 0).
 * const { model, reshapesPatched } = makeBatchDynamic(new Uint8Array([0x3a, 0x00]));
 * assert.equal(reshapesPatched, 0);
 * assert.equal(model.length, 2);
 * ```
 *
 * @param model Bytes of an ONNX ModelProto.
 * @returns The patched model and the number of Reshape nodes changed.
 * @throws {TypeError} When `model` is not a Uint8Array.
 * @throws {Vec2FaceError} `model-corrupt` when the bytes are not a ModelProto with a graph.
 */
export function makeBatchDynamic(model: Uint8Array): BatchDynamicModel {
  if (!(model instanceof Uint8Array)) {
    throw new TypeError(`Cannot make a model batch-dynamic as model: current value is ${describe(model)}`);
  }
  // Shape constants keep their length (1 -> 0 is a one-byte change in every
  // encoding), so they are patched in place in a copy before the re-encoding.
  const bytes = model.slice();
  const fields = readFields(bytes, 0, bytes.length);
  const graphs = fields.filter((field) => field.number === MODEL_GRAPH && field.wireType === WIRE_LENGTH_DELIMITED);
  if (graphs.length === 0) {
    throw new Vec2FaceError(
      "model-corrupt",
      "Cannot make a model batch-dynamic as it has no graph: field 7 is missing",
    );
  }
  let reshapesPatched = 0;
  for (const graph of graphs) reshapesPatched += patchReshapeShapes(bytes, graph);
  const rewritten = rewriteFields(bytes, fields, (field) => {
    if (field.number !== MODEL_GRAPH || field.wireType !== WIRE_LENGTH_DELIMITED) return undefined;
    return rewriteGraphSignature(bytes, field);
  });
  return { model: rewritten ?? bytes, reshapesPatched };
}

// ---------------------------------------------------------------------------
// Reshape shape constants

interface NodeInfo {
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes: WireField[];
}

/** Patches the shape constants of the Reshape nodes of one graph; returns how many Reshapes changed. */
function patchReshapeShapes(bytes: Uint8Array, graph: WireField): number {
  const fields = readFields(bytes, graph.valueStart, graph.end);
  const nodes: NodeInfo[] = [];
  const initializers = new Map<string, WireField>();
  for (const field of fields) {
    if (field.wireType !== WIRE_LENGTH_DELIMITED) continue;
    if (field.number === GRAPH_NODE) nodes.push(readNode(bytes, field));
    if (field.number === GRAPH_INITIALIZER) {
      initializers.set(readString(bytes, firstField(bytes, field, TENSOR_NAME)), field);
    }
  }
  const constants = new Map<string, WireField>();
  for (const node of nodes) {
    if (node.opType !== "Constant" || node.outputs.length !== 1) continue;
    const value = node.attributes.find((attribute) => attributeName(bytes, attribute) === "value");
    const tensor = value && firstField(bytes, value, ATTRIBUTE_T);
    if (tensor) constants.set(node.outputs[0], tensor);
  }
  const firstDims = readFirstDims(bytes, fields);

  // A constant is only safe to edit when every use of it is as a Reshape shape.
  const shapeUses = new Map<string, number>();
  const otherUses = new Set<string>();
  const reshapesByShape = new Map<string, number>();
  for (const field of fields) {
    if (field.number === GRAPH_OUTPUT && field.wireType === WIRE_LENGTH_DELIMITED) {
      otherUses.add(readString(bytes, firstField(bytes, field, VALUE_INFO_NAME)));
    }
  }
  for (const node of nodes) {
    node.inputs.forEach((name, index) => {
      if (node.opType === "Reshape" && index === 1) shapeUses.set(name, (shapeUses.get(name) ?? 0) + 1);
      else otherUses.add(name);
    });
    // Subgraphs (If, Loop, Scan) may read outer-scope names without listing them as inputs.
    for (const attribute of node.attributes) collectSubgraphInputs(bytes, attribute, otherUses);
    if (node.opType !== "Reshape" || node.inputs.length < 2 || node.inputs[1] === "") continue;
    const [data, shape] = node.inputs;
    const allowZero = node.attributes.find((attribute) => attributeName(bytes, attribute) === "allowzero");
    if (allowZero && readAttributeInt(bytes, allowZero) !== 0) {
      otherUses.add(shape); // 0 would mean a literal zero-sized dim here
      continue;
    }
    // Weights and constants carry no batch dim, so their reshapes must keep the literal 1.
    const dataDim = firstDims.get(data);
    if (
      initializers.has(data) || constants.has(data) || (dataDim && dataDim.value !== undefined && dataDim.value !== 1)
    ) {
      otherUses.add(shape);
      continue;
    }
    reshapesByShape.set(shape, (reshapesByShape.get(shape) ?? 0) + 1);
  }

  let patched = 0;
  for (const [shape, reshapes] of reshapesByShape) {
    if (otherUses.has(shape) || shapeUses.get(shape) !== reshapes) continue;
    const tensor = initializers.get(shape) ?? constants.get(shape);
    if (tensor && patchLeadingOne(bytes, tensor)) patched += reshapes;
  }
  return patched;
}

/** Changes the first element of an int64 tensor of >= 2 elements from 1 to 0, in place. */
function patchLeadingOne(bytes: Uint8Array, tensor: WireField): boolean {
  const fields = readFields(bytes, tensor.valueStart, tensor.end);
  const dataType = lastField(fields, TENSOR_DATA_TYPE);
  if (!dataType || readVarint(bytes, dataType.valueStart, dataType.end).value !== DATA_TYPE_INT64) return false;
  const location = lastField(fields, TENSOR_DATA_LOCATION);
  if (location && readVarint(bytes, location.valueStart, location.end).value === DATA_LOCATION_EXTERNAL) return false;
  const raw = lastField(fields, TENSOR_RAW_DATA);
  if (raw && raw.wireType === WIRE_LENGTH_DELIMITED) {
    const length = raw.end - raw.valueStart;
    if (length < 16 || length % 8 !== 0) return false;
    // Little-endian int64 1 is 01 00 00 00 00 00 00 00.
    if (bytes[raw.valueStart] !== 1) return false;
    for (let i = 1; i < 8; i++) if (bytes[raw.valueStart + i] !== 0) return false;
    bytes[raw.valueStart] = 0;
    return true;
  }
  // int64_data may be packed (one length-delimited field) or not (one varint field each).
  const starts: number[] = [];
  for (const field of fields) {
    if (field.number !== TENSOR_INT64_DATA) continue;
    if (field.wireType === WIRE_VARINT) starts.push(field.valueStart);
    else if (field.wireType === WIRE_LENGTH_DELIMITED) {
      for (let pos = field.valueStart; pos < field.end;) {
        starts.push(pos);
        pos = readVarint(bytes, pos, field.end).next;
      }
    }
  }
  if (starts.length < 2 || bytes[starts[0]] !== 1) return false; // varint 1 is the single byte 01
  bytes[starts[0]] = 0;
  return true;
}

function readNode(bytes: Uint8Array, node: WireField): NodeInfo {
  const info: NodeInfo = { opType: "", inputs: [], outputs: [], attributes: [] };
  for (const field of readFields(bytes, node.valueStart, node.end)) {
    if (field.wireType !== WIRE_LENGTH_DELIMITED) continue;
    if (field.number === NODE_INPUT) info.inputs.push(readString(bytes, field));
    else if (field.number === NODE_OUTPUT) info.outputs.push(readString(bytes, field));
    else if (field.number === NODE_OP_TYPE) info.opType = readString(bytes, field);
    else if (field.number === NODE_ATTRIBUTE) info.attributes.push(field);
  }
  return info;
}

function attributeName(bytes: Uint8Array, attribute: WireField): string {
  return readString(bytes, firstField(bytes, attribute, ATTRIBUTE_NAME));
}

function readAttributeInt(bytes: Uint8Array, attribute: WireField): number | undefined {
  const field = readFields(bytes, attribute.valueStart, attribute.end)
    .find((f) => f.number === ATTRIBUTE_I && f.wireType === WIRE_VARINT);
  return field && readVarint(bytes, field.valueStart, field.end).value;
}

/** Adds every name read by nodes of the subgraphs of an attribute, at any depth. */
function collectSubgraphInputs(bytes: Uint8Array, attribute: WireField, names: Set<string>): void {
  for (const field of readFields(bytes, attribute.valueStart, attribute.end)) {
    if (field.wireType !== WIRE_LENGTH_DELIMITED) continue;
    if (field.number !== ATTRIBUTE_G && field.number !== ATTRIBUTE_GRAPHS) continue;
    for (const graphField of readFields(bytes, field.valueStart, field.end)) {
      if (graphField.number !== GRAPH_NODE || graphField.wireType !== WIRE_LENGTH_DELIMITED) continue;
      const node = readNode(bytes, graphField);
      for (const name of node.inputs) names.add(name);
      for (const nested of node.attributes) collectSubgraphInputs(bytes, nested, names);
    }
  }
}

// ---------------------------------------------------------------------------
// Graph inputs, outputs and value_info

interface FirstDim {
  value?: number;
  param?: string;
}

/** Re-encodes the graph with dim 0 of its inputs/outputs symbolic; undefined when nothing changed. */
function rewriteGraphSignature(bytes: Uint8Array, graph: WireField): Uint8Array | undefined {
  const fields = readFields(bytes, graph.valueStart, graph.end);
  const initializerNames = new Set<string>();
  for (const field of fields) {
    if (field.number === GRAPH_INITIALIZER && field.wireType === WIRE_LENGTH_DELIMITED) {
      initializerNames.add(readString(bytes, firstField(bytes, field, TENSOR_NAME)));
    }
  }
  const batchDim = encodeDimension(BATCH_DIM_PARAM);
  const unknownDim = encodeDimension(undefined);
  return rewriteFields(bytes, fields, (field) => {
    if (field.wireType !== WIRE_LENGTH_DELIMITED) return undefined;
    const isInput = field.number === GRAPH_INPUT;
    if (!isInput && field.number !== GRAPH_OUTPUT && field.number !== GRAPH_VALUE_INFO) return undefined;
    // Before IR version 4 initializers were listed as inputs too; weights have no batch dim.
    if (isInput && initializerNames.has(readString(bytes, firstField(bytes, field, VALUE_INFO_NAME)))) return undefined;
    const dim = readFirstDim(bytes, field);
    if (!dim || dim.value !== 1) return undefined;
    // Intermediate tensors get an unknown dim, not "batch": dim 0 of a 1-element shape tensor is no batch.
    const replacement = field.number === GRAPH_VALUE_INFO ? unknownDim : batchDim;
    return editNested(bytes, field, [VALUE_INFO_TYPE, TYPE_TENSOR_TYPE, TENSOR_TYPE_SHAPE, SHAPE_DIM], (dimField) => {
      // Keep every other Dimension field (denotation) and replace dim_value/dim_param.
      const kept = readFields(bytes, dimField.valueStart, dimField.end)
        .filter((f) => f.number !== DIM_VALUE && f.number !== DIM_PARAM)
        .map((f) => bytes.subarray(f.start, f.end));
      return concatBytes([...kept, replacement]);
    });
  });
}

/** Maps value names to dim 0 of their declared shape, from inputs, outputs and value_info. */
function readFirstDims(bytes: Uint8Array, graphFields: WireField[]): Map<string, FirstDim> {
  const dims = new Map<string, FirstDim>();
  for (const field of graphFields) {
    if (field.wireType !== WIRE_LENGTH_DELIMITED) continue;
    if (field.number !== GRAPH_INPUT && field.number !== GRAPH_OUTPUT && field.number !== GRAPH_VALUE_INFO) continue;
    const dim = readFirstDim(bytes, field);
    if (dim) dims.set(readString(bytes, firstField(bytes, field, VALUE_INFO_NAME)), dim);
  }
  return dims;
}

function readFirstDim(bytes: Uint8Array, valueInfo: WireField): FirstDim | undefined {
  let field: WireField | undefined = valueInfo;
  for (const number of [VALUE_INFO_TYPE, TYPE_TENSOR_TYPE, TENSOR_TYPE_SHAPE, SHAPE_DIM]) {
    field = firstField(bytes, field, number);
    if (!field) return undefined;
  }
  const dim: FirstDim = {};
  for (const f of readFields(bytes, field.valueStart, field.end)) {
    if (f.number === DIM_VALUE && f.wireType === WIRE_VARINT) dim.value = readVarint(bytes, f.valueStart, f.end).value;
    if (f.number === DIM_PARAM && f.wireType === WIRE_LENGTH_DELIMITED) dim.param = readString(bytes, f);
  }
  return dim;
}

/** Encodes a TensorShapeProto.Dimension field (tag included) with a dim_param, or empty for unknown. */
function encodeDimension(param: string | undefined): Uint8Array {
  if (param === undefined) return new Uint8Array(0);
  return encodeLengthDelimited(DIM_PARAM, new TextEncoder().encode(param));
}

// ---------------------------------------------------------------------------
// Protobuf wire format

interface WireField {
  /** Field number. */
  number: number;
  wireType: number;
  /** Offset of the tag. */
  start: number;
  /** Offset of the value (after the length prefix for length-delimited fields). */
  valueStart: number;
  /** Offset just past the value. */
  end: number;
}

function corrupt(detail: string): Vec2FaceError {
  return new Vec2FaceError("model-corrupt", `Cannot read the ONNX model as protobuf: ${detail}`);
}

function readVarint(bytes: Uint8Array, pos: number, end: number): { value: number; next: number } {
  // Values above 2^53 lose precision, which is fine: only lengths and small ints are compared.
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw corrupt(`varint runs past byte ${end}`);
    const byte = bytes[pos++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return { value, next: pos };
    scale *= 128;
  }
  throw corrupt(`varint at byte ${pos - 10} is longer than 10 bytes`);
}

function readFields(bytes: Uint8Array, start: number, end: number): WireField[] {
  const fields: WireField[] = [];
  let pos = start;
  while (pos < end) {
    const tag = readVarint(bytes, pos, end);
    const number = Math.floor(tag.value / 8);
    const wireType = tag.value % 8;
    if (number === 0) throw corrupt(`field number 0 at byte ${pos}`);
    let valueStart = tag.next;
    let fieldEnd: number;
    if (wireType === WIRE_VARINT) fieldEnd = readVarint(bytes, valueStart, end).next;
    else if (wireType === WIRE_FIXED64) fieldEnd = valueStart + 8;
    else if (wireType === WIRE_FIXED32) fieldEnd = valueStart + 4;
    else if (wireType === WIRE_LENGTH_DELIMITED) {
      const length = readVarint(bytes, valueStart, end);
      valueStart = length.next;
      fieldEnd = valueStart + length.value;
    } else throw corrupt(`unsupported wire type ${wireType} at byte ${pos}`);
    if (fieldEnd > end) throw corrupt(`field ${number} at byte ${pos} runs past byte ${end}`);
    fields.push({ number, wireType, start: pos, valueStart, end: fieldEnd });
    pos = fieldEnd;
  }
  return fields;
}

function firstField(bytes: Uint8Array, message: WireField, number: number): WireField | undefined {
  return readFields(bytes, message.valueStart, message.end)
    .find((field) => field.number === number && field.wireType === WIRE_LENGTH_DELIMITED);
}

function lastField(fields: WireField[], number: number): WireField | undefined {
  return fields.findLast((field) => field.number === number);
}

function readString(bytes: Uint8Array, field: WireField | undefined): string {
  return field ? new TextDecoder().decode(bytes.subarray(field.valueStart, field.end)) : "";
}

/**
 * Re-encodes a message whose fields are given: `replace` returns a new payload
 * for a length-delimited field, or undefined to copy it verbatim. Returns
 * undefined when no field was replaced.
 */
function rewriteFields(
  bytes: Uint8Array,
  fields: WireField[],
  replace: (field: WireField) => Uint8Array | undefined,
): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  let changed = false;
  for (const field of fields) {
    const payload = replace(field);
    if (payload === undefined) {
      parts.push(bytes.subarray(field.start, field.end));
    } else {
      changed = true;
      parts.push(encodeLengthDelimited(field.number, payload));
    }
  }
  return changed ? concatBytes(parts) : undefined;
}

/** Replaces the first sub-message along a path of field numbers; returns the new payload of `message`. */
function editNested(
  bytes: Uint8Array,
  message: WireField,
  path: number[],
  edit: (field: WireField) => Uint8Array,
): Uint8Array | undefined {
  const fields = readFields(bytes, message.valueStart, message.end);
  const target = fields.find((field) => field.number === path[0] && field.wireType === WIRE_LENGTH_DELIMITED);
  if (!target) return undefined;
  return rewriteFields(bytes, fields, (field) => {
    if (field !== target) return undefined;
    return path.length === 1 ? edit(field) : editNested(bytes, field, path.slice(1), edit);
  });
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "an object";
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}
