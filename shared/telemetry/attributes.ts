/**
 * The OpenTelemetry semantic-convention attribute names swarmpath uses (stable conventions: service,
 * HTTP server). Written out here rather than imported from @opentelemetry/semantic-conventions: its
 * entry point loads every convention (~6 MiB of resident memory and ~20 ms per process, measured on
 * Node 24) for five strings, in every host and router process.
 */
export const ATTR_SERVICE_NAME = 'service.name';
export const ATTR_SERVICE_INSTANCE_ID = 'service.instance.id';
export const ATTR_HTTP_REQUEST_METHOD = 'http.request.method';
export const ATTR_HTTP_ROUTE = 'http.route';
export const ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';
