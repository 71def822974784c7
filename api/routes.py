"""The management Open API's operations, mounted on hub_api (api/hub.py) and served by api/urls.py."""

from ninja.utils import normalize_path, replace_path_param_notation

from .endpoints import customers, deliveries, events, recoveries, sends, webhooks
from .hub import ScopedKey, hub_api

# recoveries before deliveries: POST /deliveries/recover is matched before /deliveries/{delivery_id}.
ROUTERS = (events.router, webhooks.router, recoveries.router, deliveries.router, sends.router, customers.router)
for _router in ROUTERS:
    hub_api.add_router("", _router)


def operation_scopes() -> dict[str, str]:
    """operationId → the scope its key must hold (for the OpenAPI document)."""
    scopes = {}
    for router in ROUTERS:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                auth = operation.auth_callbacks[0]
                assert isinstance(auth, ScopedKey)
                scopes[str(operation.operation_id)] = str(auth.scope)
    return scopes


def operation_query_params() -> dict[tuple[str, str], frozenset[str]]:
    """(Django route, HTTP method) → the query parameters the operation declares (others are refused)."""
    known: dict[tuple[str, str], frozenset[str]] = {}
    for router in ROUTERS:
        for path, path_view in router.path_operations.items():
            route = normalize_path(replace_path_param_notation(path)).lstrip("/")
            for operation in path_view.operations:
                names: set[str] = set()
                for model in operation.models:
                    if model.__ninja_param_source__ == "query":
                        names |= set(getattr(model, "__ninja_flatten_map__", None) or model.model_fields)
                for method in operation.methods:
                    known[(route, method.upper())] = frozenset(names)
    return known
