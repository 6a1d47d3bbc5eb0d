// Starts the vendored Swagger UI on /schema (a file, not an inline script: CSP script-src 'self').
(function () {
  var node = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: node.getAttribute("data-spec-url"),
    domNode: node,
    deepLinking: true,
    persistAuthorization: true,
    tryItOutEnabled: false,
    validatorUrl: null, // the default validator is a remote service: none on an isolated network
    defaultModelsExpandDepth: 1,
    defaultModelExpandDepth: 2,
  });
})();
