/** GGUF reading and writing: see reader.ts (validating header parser) and writer.ts. Node-only file sink: write-file.ts. */
export {
  readGGUF,
  readTensorBytes,
  readTensorChunks,
  alignUp,
  DEFAULT_ALIGNMENT,
  MAX_ARRAY_DEPTH,
  MAX_TENSOR_DIMS,
  type ReadGGUFOptions,
} from './reader.ts';
export { PackedStrings, PackedStringsBuilder, isWellFormedUtf8 } from './packed-strings.ts';
export { GGUFFile, type GGUFMetadataEntry, type GGUFTensorInfo } from './file.ts';
export {
  writeGGUF,
  writeGGUFToBytes,
  planGGUF,
  specFromFile,
  type GGUFWriteSpec,
  type GGUFTensorInput,
  type GGUFMetadataInput,
  type GGUFWritePlan,
  type TensorDataInput,
} from './writer.ts';
export {
  GGUFArray,
  GGUFValueType,
  inferValueType,
  toGGUFArray,
  valueTypeName,
  type GGUFValue,
  type GGUFArrayItems,
  type GGUFTypedArray,
} from './values.ts';
