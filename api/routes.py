"""The management Open API's operations, mounted on hub_api (api/hub.py) and served by api/urls.py."""

from .endpoints import customers, deliveries, recoveries, sends, webhooks
from .hub import ScopedKey, hub_api

# recoveries before deliveries: POST /deliveries/recover is matched before /deliveries/{delivery_id}.
ROUTERS = (webhooks.router, recoveries.router, deliveries.router, sends.router, customers.router)
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
