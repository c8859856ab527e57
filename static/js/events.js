// Every Socket.IO event the page sends or receives, by name: the page's side of
// docs/protocol.md in one place. Other modules use these constants, never the strings, so a
// renamed or retired event is one edit here and a search for its constant.

// Socket.IO's own, about the connection itself.
export const CONNECT = "connect";
export const DISCONNECT = "disconnect";
export const CONNECT_ERROR = "connect_error";

// Both ways: the page asks (or changes something), the server answers or pushes.
export const SETTINGS = "settings";
export const MODELS = "models";
export const COLLECTIONS = "collections";
export const DOCUMENTS = "documents";
export const SHARES = "shares";
export const PRESETS = "presets";

// Page → server.
export const MESSAGE = "message";
export const STOP = "stop";
export const REGENERATE = "regenerate";
export const EDIT = "edit";
export const CHOOSE_VERSION = "choose_version";
export const CONTINUE = "continue";
export const BRANCH = "branch";
export const RESET = "reset";
export const SWITCH = "switch";
export const RENAME = "rename";
export const DELETE = "delete";
export const SEARCH = "search";
export const PIN = "pin";
export const CREATE_FOLDER = "create_folder";
export const RENAME_FOLDER = "rename_folder";
export const DELETE_FOLDER = "delete_folder";
export const MOVE_TO_FOLDER = "move_to_folder";
export const SHARE = "share";
export const REVOKE_SHARE = "revoke_share";
export const PULL_MODEL = "pull_model";
export const SHARE_COLLECTION = "share_collection";
export const DELETE_COLLECTION = "delete_collection";
export const REMOVE_DOCUMENT = "remove_document";
export const REFETCH_DOCUMENT = "refetch_document";
export const RETRIEVAL_DEBUG = "retrieval_debug";
export const TEST_RETRIEVAL = "test_retrieval";
export const MENTIONS = "mentions";
export const CREATE_PRESET = "create_preset";
export const UPDATE_PRESET = "update_preset";
export const DELETE_PRESET = "delete_preset";
export const START_PRESET = "start_preset";

// Server → page.
export const HISTORY = "history";
export const USER_MESSAGE = "user_message";
export const USER_STORED = "user_stored";
export const REASONING = "reasoning";
export const TOKEN = "token";
export const DONE = "done";
export const ERROR = "error";
export const STATUS = "status";
export const NOTICE = "notice";
export const CONVERSATIONS = "conversations";
export const SEARCH_RESULTS = "search_results";
export const SHARE_CREATED = "share_created";
export const MODEL_PULL = "model_pull";
export const SIGNED_OUT = "signed_out";
export const INGEST = "ingest";
export const RETRIEVAL = "retrieval";
export const COLLECTIONS_CHANGED = "collections_changed";
export const PRESETS_CHANGED = "presets_changed";
