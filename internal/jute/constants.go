package jute

import "strconv"

// ProtocolVersion is the only protocol version ZooKeeper clients and servers
// use in ConnectRequest and ConnectResponse.
const ProtocolVersion = 0

// SessionPasswdLen is the length of the session password ZooKeeper hands
// out in ConnectResponse (and expects back on reconnect).
const SessionPasswdLen = 16

// OpCode is a request type (ZooDefs.OpCode), carried in RequestHeader.Type
// and MultiHeader.Type.
type OpCode int32

// Operation codes of ZooKeeper 3.8 (ZooDefs.OpCode).
const (
	OpNotification         OpCode = 0 // never sent by clients; reserved
	OpCreate               OpCode = 1
	OpDelete               OpCode = 2
	OpExists               OpCode = 3
	OpGetData              OpCode = 4
	OpSetData              OpCode = 5
	OpGetACL               OpCode = 6
	OpSetACL               OpCode = 7
	OpGetChildren          OpCode = 8
	OpSync                 OpCode = 9
	OpPing                 OpCode = 11
	OpGetChildren2         OpCode = 12
	OpCheck                OpCode = 13
	OpMulti                OpCode = 14
	OpCreate2              OpCode = 15
	OpReconfig             OpCode = 16
	OpCheckWatches         OpCode = 17
	OpRemoveWatches        OpCode = 18
	OpCreateContainer      OpCode = 19
	OpDeleteContainer      OpCode = 20 // server-internal (container reaper); clients never send it
	OpCreateTTL            OpCode = 21
	OpMultiRead            OpCode = 22
	OpAuth                 OpCode = 100
	OpSetWatches           OpCode = 101
	OpSASL                 OpCode = 102
	OpGetEphemerals        OpCode = 103
	OpGetAllChildrenNumber OpCode = 104
	OpSetWatches2          OpCode = 105
	OpAddWatch             OpCode = 106
	OpWhoAmI               OpCode = 107
	OpCreateSession        OpCode = -10 // the ConnectRequest; never framed with a RequestHeader
	OpCloseSession         OpCode = -11
	OpError                OpCode = -1 // type of an error result inside a multi response
)

// String returns ZooKeeper's name for the opcode, or "OpCode(n)".
func (o OpCode) String() string {
	switch o {
	case OpNotification:
		return "notification"
	case OpCreate:
		return "create"
	case OpDelete:
		return "delete"
	case OpExists:
		return "exists"
	case OpGetData:
		return "getData"
	case OpSetData:
		return "setData"
	case OpGetACL:
		return "getACL"
	case OpSetACL:
		return "setACL"
	case OpGetChildren:
		return "getChildren"
	case OpSync:
		return "sync"
	case OpPing:
		return "ping"
	case OpGetChildren2:
		return "getChildren2"
	case OpCheck:
		return "check"
	case OpMulti:
		return "multi"
	case OpCreate2:
		return "create2"
	case OpReconfig:
		return "reconfig"
	case OpCheckWatches:
		return "checkWatches"
	case OpRemoveWatches:
		return "removeWatches"
	case OpCreateContainer:
		return "createContainer"
	case OpDeleteContainer:
		return "deleteContainer"
	case OpCreateTTL:
		return "createTTL"
	case OpMultiRead:
		return "multiRead"
	case OpAuth:
		return "auth"
	case OpSetWatches:
		return "setWatches"
	case OpSASL:
		return "sasl"
	case OpGetEphemerals:
		return "getEphemerals"
	case OpGetAllChildrenNumber:
		return "getAllChildrenNumber"
	case OpSetWatches2:
		return "setWatches2"
	case OpAddWatch:
		return "addWatch"
	case OpWhoAmI:
		return "whoAmI"
	case OpCreateSession:
		return "createSession"
	case OpCloseSession:
		return "closeSession"
	case OpError:
		return "error"
	}
	return "OpCode(" + strconv.Itoa(int(o)) + ")"
}

// IsWrite reports whether the opcode changes the tree or session state and
// therefore has to go through consensus (in ZooKeeper: through the leader).
func (o OpCode) IsWrite() bool {
	switch o {
	case OpCreate, OpCreate2, OpCreateContainer, OpCreateTTL, OpDelete, OpDeleteContainer,
		OpSetData, OpSetACL, OpCheck, OpMulti, OpReconfig, OpCreateSession, OpCloseSession:
		return true
	}
	return false
}

// ErrCode is a ZooKeeper error code (KeeperException.Code), carried in
// ReplyHeader.Err, MultiHeader.Err and ErrorResponse.
type ErrCode int32

// Error codes of ZooKeeper 3.8 (KeeperException.Code).
const (
	CodeOK                           ErrCode = 0
	CodeSystemError                  ErrCode = -1 // marks the start of the system error range; never sent
	CodeRuntimeInconsistency         ErrCode = -2
	CodeDataInconsistency            ErrCode = -3
	CodeConnectionLoss               ErrCode = -4
	CodeMarshallingError             ErrCode = -5
	CodeUnimplemented                ErrCode = -6
	CodeOperationTimeout             ErrCode = -7
	CodeBadArguments                 ErrCode = -8
	CodeUnknownSession               ErrCode = -12
	CodeNewConfigNoQuorum            ErrCode = -13
	CodeReconfigInProgress           ErrCode = -14
	CodeAPIError                     ErrCode = -100 // marks the start of the API error range; never sent
	CodeNoNode                       ErrCode = -101
	CodeNoAuth                       ErrCode = -102
	CodeBadVersion                   ErrCode = -103
	CodeNoChildrenForEphemerals      ErrCode = -108
	CodeNodeExists                   ErrCode = -110
	CodeNotEmpty                     ErrCode = -111
	CodeSessionExpired               ErrCode = -112
	CodeInvalidCallback              ErrCode = -113
	CodeInvalidACL                   ErrCode = -114
	CodeAuthFailed                   ErrCode = -115
	CodeSessionMoved                 ErrCode = -118
	CodeNotReadOnly                  ErrCode = -119
	CodeEphemeralOnLocalSession      ErrCode = -120
	CodeNoWatcher                    ErrCode = -121
	CodeRequestTimeout               ErrCode = -122
	CodeReconfigDisabled             ErrCode = -123
	CodeSessionClosedRequireSASLAuth ErrCode = -124
	CodeQuotaExceeded                ErrCode = -125
	CodeThrottled                    ErrCode = -127
)

// String returns the name of the code as in KeeperException.Code, or
// "ErrCode(n)".
func (c ErrCode) String() string {
	switch c {
	case CodeOK:
		return "OK"
	case CodeSystemError:
		return "SystemError"
	case CodeRuntimeInconsistency:
		return "RuntimeInconsistency"
	case CodeDataInconsistency:
		return "DataInconsistency"
	case CodeConnectionLoss:
		return "ConnectionLoss"
	case CodeMarshallingError:
		return "MarshallingError"
	case CodeUnimplemented:
		return "Unimplemented"
	case CodeOperationTimeout:
		return "OperationTimeout"
	case CodeBadArguments:
		return "BadArguments"
	case CodeUnknownSession:
		return "UnknownSession"
	case CodeNewConfigNoQuorum:
		return "NewConfigNoQuorum"
	case CodeReconfigInProgress:
		return "ReconfigInProgress"
	case CodeAPIError:
		return "APIError"
	case CodeNoNode:
		return "NoNode"
	case CodeNoAuth:
		return "NoAuth"
	case CodeBadVersion:
		return "BadVersion"
	case CodeNoChildrenForEphemerals:
		return "NoChildrenForEphemerals"
	case CodeNodeExists:
		return "NodeExists"
	case CodeNotEmpty:
		return "NotEmpty"
	case CodeSessionExpired:
		return "SessionExpired"
	case CodeInvalidCallback:
		return "InvalidCallback"
	case CodeInvalidACL:
		return "InvalidACL"
	case CodeAuthFailed:
		return "AuthFailed"
	case CodeSessionMoved:
		return "SessionMoved"
	case CodeNotReadOnly:
		return "NotReadOnly"
	case CodeEphemeralOnLocalSession:
		return "EphemeralOnLocalSession"
	case CodeNoWatcher:
		return "NoWatcher"
	case CodeRequestTimeout:
		return "RequestTimeout"
	case CodeReconfigDisabled:
		return "ReconfigDisabled"
	case CodeSessionClosedRequireSASLAuth:
		return "SessionClosedRequireSASLAuth"
	case CodeQuotaExceeded:
		return "QuotaExceeded"
	case CodeThrottled:
		return "Throttled"
	}
	return "ErrCode(" + strconv.Itoa(int(c)) + ")"
}

// EventType is the type of a watch notification (Watcher.Event.EventType).
type EventType int32

// Watch event types.
const (
	EventNone                   EventType = -1 // session state change; Path is empty
	EventNodeCreated            EventType = 1
	EventNodeDeleted            EventType = 2
	EventNodeDataChanged        EventType = 3
	EventNodeChildrenChanged    EventType = 4
	EventDataWatchRemoved       EventType = 5
	EventChildWatchRemoved      EventType = 6
	EventPersistentWatchRemoved EventType = 7
)

// String returns the Java enum name of the event type.
func (t EventType) String() string {
	switch t {
	case EventNone:
		return "None"
	case EventNodeCreated:
		return "NodeCreated"
	case EventNodeDeleted:
		return "NodeDeleted"
	case EventNodeDataChanged:
		return "NodeDataChanged"
	case EventNodeChildrenChanged:
		return "NodeChildrenChanged"
	case EventDataWatchRemoved:
		return "DataWatchRemoved"
	case EventChildWatchRemoved:
		return "ChildWatchRemoved"
	case EventPersistentWatchRemoved:
		return "PersistentWatchRemoved"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// KeeperState is the session state carried in WatcherEvent.State
// (Watcher.Event.KeeperState). Node events carry StateSyncConnected.
type KeeperState int32

// Keeper states.
const (
	StateDisconnected      KeeperState = 0
	StateSyncConnected     KeeperState = 3
	StateAuthFailed        KeeperState = 4
	StateConnectedReadOnly KeeperState = 5
	StateSaslAuthenticated KeeperState = 6
	StateExpired           KeeperState = -112
	StateClosed            KeeperState = 7 // generated by clients locally, never by servers
)

// String returns the Java enum name of the state.
func (s KeeperState) String() string {
	switch s {
	case StateDisconnected:
		return "Disconnected"
	case StateSyncConnected:
		return "SyncConnected"
	case StateAuthFailed:
		return "AuthFailed"
	case StateConnectedReadOnly:
		return "ConnectedReadOnly"
	case StateSaslAuthenticated:
		return "SaslAuthenticated"
	case StateExpired:
		return "Expired"
	case StateClosed:
		return "Closed"
	}
	return "KeeperState(" + strconv.Itoa(int(s)) + ")"
}

// Special xids. Clients choose xids: the Java client sends pings with
// XidPing and auth packets with XidAuth; the C client (and older Java
// clients) send the setWatches of a reconnect with XidSetWatches, while the
// 3.8 Java client and go-zookeeper use ordinary increasing xids for it
// (go-zookeeper for auth too). A server must simply echo the request's xid
// in its reply. The only xid a server originates is XidNotification, for
// watch events.
const (
	XidNotification int32 = -1 // server → client watch event (ReplyHeader.Xid)
	XidPing         int32 = -2
	XidAuth         int32 = -4
	XidSetWatches   int32 = -8
)

// AddWatchMode is the mode of an addWatch request (ZooDefs.AddWatchModes).
type AddWatchMode int32

// AddWatch modes.
const (
	AddWatchModePersistent          AddWatchMode = 0
	AddWatchModePersistentRecursive AddWatchMode = 1
)

// WatcherType selects the watches a checkWatches or removeWatches request
// applies to (Watcher.WatcherType).
type WatcherType int32

// Watcher types.
const (
	WatcherTypeChildren WatcherType = 1
	WatcherTypeData     WatcherType = 2
	WatcherTypeAny      WatcherType = 3
)

// CreateMode is the flags field of a create request (CreateMode.toFlag).
type CreateMode int32

// Create modes.
const (
	ModePersistent                  CreateMode = 0
	ModeEphemeral                   CreateMode = 1
	ModePersistentSequential        CreateMode = 2
	ModeEphemeralSequential         CreateMode = 3
	ModeContainer                   CreateMode = 4
	ModePersistentWithTTL           CreateMode = 5
	ModePersistentSequentialWithTTL CreateMode = 6
)

// Valid reports whether m is one of the seven modes ZooKeeper knows.
func (m CreateMode) Valid() bool { return m >= ModePersistent && m <= ModePersistentSequentialWithTTL }

// IsEphemeral reports whether nodes of this mode die with their session.
func (m CreateMode) IsEphemeral() bool { return m == ModeEphemeral || m == ModeEphemeralSequential }

// IsSequential reports whether the server appends a sequence suffix.
func (m CreateMode) IsSequential() bool {
	return m == ModePersistentSequential || m == ModeEphemeralSequential || m == ModePersistentSequentialWithTTL
}

// IsContainer reports whether m is ModeContainer.
func (m CreateMode) IsContainer() bool { return m == ModeContainer }

// IsTTL reports whether m is one of the TTL modes.
func (m CreateMode) IsTTL() bool {
	return m == ModePersistentWithTTL || m == ModePersistentSequentialWithTTL
}

// Permission bits of ACL.Perms (ZooDefs.Perms).
const (
	PermRead   = 1 << 0
	PermWrite  = 1 << 1
	PermCreate = 1 << 2
	PermDelete = 1 << 3
	PermAdmin  = 1 << 4
	PermAll    = PermRead | PermWrite | PermCreate | PermDelete | PermAdmin
)
