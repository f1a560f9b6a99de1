"""wfstore: an embeddable, event-sourced workflow store.

``wfstore.Database(path)`` opens (or creates) a store; its methods are the
WorkflowStore of stabilize's persistence interface, its transactions, its queue
(``queue_*``), commit listeners and the history API (``history()``). Model
values are read from any object with the model's attribute names and come back
as ``Model``: read-only mappings whose fields are converted when read
(``to_dict()`` converts them all); JSON values cross as Python objects. Errors are the classes below,
mirroring wfstore::Error's.

stabilize's adapter (``WfstoreWorkflowStore``, ``WfstoreQueue``) lives in
``wfstore.stabilize``, the only module that imports stabilize.
"""

from collections.abc import Mapping as _Mapping

from wfstore._wfstore import (
    AuditScope,
    ConcurrencyError,
    CorruptionError,
    Database,
    DuplicateError,
    Error,
    History,
    InvalidArgumentError,
    IOError,
    KafkaTopicNotFoundError,
    Model,
    NotFoundError,
    StageNotFoundError,
    StoreLockedError,
    SubscriberFailedError,
    SubscriptionNotFoundError,
    Transaction,
    WorkflowNotFoundError,
    for_each_event,
)

__all__ = [
    "AuditScope",
    "ConcurrencyError",
    "CorruptionError",
    "Database",
    "DuplicateError",
    "Error",
    "History",
    "InvalidArgumentError",
    "IOError",
    "KafkaTopicNotFoundError",
    "Model",
    "NotFoundError",
    "StageNotFoundError",
    "StoreLockedError",
    "SubscriberFailedError",
    "SubscriptionNotFoundError",
    "Transaction",
    "WorkflowNotFoundError",
    "for_each_event",
]


def _model_repr(self: Model) -> str:
    return self._repr()


# A Model is a collections.abc.Mapping: keys(), values() and items() are its
# views; its repr is a plain function (pprint and pytest look it up by value).
_Mapping.register(Model)
Model.keys = _Mapping.keys
Model.values = _Mapping.values
Model.items = _Mapping.items
Model.__reversed__ = lambda self: reversed(list(self))
Model.__repr__ = _model_repr
