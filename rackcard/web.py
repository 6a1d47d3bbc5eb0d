"""The web side shared by every page (staff pages and the portal): templates,
languages, login/logout, the language and theme choices, and how errors and
missing sessions look to a browser.

Pages are thin handlers in pages/ (and portal/) that return
`litestar.response.Template`; the composition root mounts them behind
`accounts.http.require_staff_session` (or `require_session`) so a handler gets
the same `Viewer` the API builds from a token, and calls the same services.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body, FromQuery
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from accounts import services as accounts
from accounts.http import SESSION_COOKIE, LoginRequired, StaffOnly, page_viewer
from accounts.errors import DomainError
from rackcard import csrf, i18n
from rackcard.problems import exception_handlers as api_exception_handlers

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
THEME_COOKIE = "rc_theme"
THEMES = ("light", "dark")
#: Where a client user lands (the portal); staff land on the board.
PORTAL_PATH = "/portal"


def template_config() -> TemplateConfig:
    i18n.load_all()
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    i18n.install(environment)
    engine = JinjaTemplateEngine(engine_instance=environment)
    # csrf_token() in a template: the token of this browser's CSRF cookie (rackcard.csrf).
    engine.register_template_callable("csrf_token", lambda ctx: csrf.token(ctx["request"]))
    engine.register_template_callable("theme", _theme)
    return TemplateConfig(instance=engine)


def _theme(ctx: dict) -> str:
    """"light"/"dark" when the user chose one (toggle), "" = follow the system."""
    value = ctx["request"].cookies.get(THEME_COOKIE, "")
    return value if value in THEMES else ""


def safe_next(target: str | None, default: str = "/") -> str:
    """Only local paths: "/x?y" yes, "//evil.example" and "https://..." no (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _cookie(request: Request, key: str, value: str, *, max_age: int | None = None, httponly: bool = True) -> Cookie:
    return Cookie(key=key, value=value, path="/", httponly=httponly, samesite="lax",
                  secure=csrf.is_secure(request.scope), max_age=max_age)


async def _optional_viewer(request: Request):
    try:
        return await page_viewer(request)
    except LoginRequired:
        return None


# ---------------------------------------------------------------- login / logout

FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


@get("/login", include_in_schema=False)
async def login_form(request: Request, next: FromQuery[str | None] = None) -> Template | Redirect:
    viewer = await _optional_viewer(request)
    if viewer is not None:
        return Redirect(safe_next(next, PORTAL_PATH if viewer.is_client else "/"))
    return Template("login.html", context={"next": safe_next(next, ""), "error": False, "email": ""})


@post("/login", include_in_schema=False, status_code=303)
async def login_submit(request: Request, data: FormBody) -> Response:
    email = str(data.get("email", ""))[:254]
    password = str(data.get("password", ""))[:1000]
    target = str(data.get("next", ""))
    result = await accounts.login(email, password, request.cookies.get(SESSION_COOKIE))
    if result is None:
        return Template("login.html", context={"next": safe_next(target, ""), "error": True, "email": email},
                        status_code=400)
    key, user = result
    csrf.rotate(request)
    response = Redirect(safe_next(target, PORTAL_PATH if user.role == "client" else "/"), status_code=303)
    response.set_cookie(_cookie(request, SESSION_COOKIE, key))
    return response


@post("/logout", include_in_schema=False, status_code=303)
async def logout(request: Request) -> Response:
    await accounts.end_session(request.cookies.get(SESSION_COOKIE, ""))
    csrf.rotate(request)
    response = Redirect("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@post("/preferences/language", include_in_schema=False, status_code=303)
async def choose_language(request: Request, data: FormBody) -> Response:
    """The language toggle: kept on the user (when logged in) and in a cookie (for the login page)."""
    language = str(data.get("language", ""))
    if language not in i18n.LANGUAGES:
        language = ""
    viewer = await _optional_viewer(request)
    if viewer is not None:
        await accounts.set_language(viewer, language)
    response = Redirect(safe_next(str(data.get("next", "")), "/"), status_code=303)
    response.set_cookie(_cookie(request, i18n.LANGUAGE_COOKIE, language, max_age=365 * 86400))
    return response


@post("/preferences/theme", include_in_schema=False, status_code=303)
async def choose_theme(request: Request, data: FormBody) -> Response:
    """The dark-mode toggle without JavaScript (static/rackcard.js does the same in place)."""
    theme = str(data.get("theme", ""))
    response = Redirect(safe_next(str(data.get("next", "")), "/"), status_code=303)
    response.set_cookie(_cookie(request, THEME_COOKIE, theme if theme in THEMES else "", max_age=365 * 86400,
                                httponly=False))
    return response


web_routes: list = [login_form, login_submit, logout, choose_language, choose_theme]


# ---------------------------------------------------------------- errors in pages

def is_page_request(request: Request) -> bool:
    """A page (not the API, which keeps its JSON problems)."""
    return not request.url.path.startswith(("/api/", "/schema", "/static/"))


def _current_page(request: Request) -> str:
    if "hx-request" in request.headers:
        current = request.headers.get("hx-current-url", "")
        # only our own path and query, never a full URL
        if "://" in current:
            current = "/" + current.split("://", 1)[1].partition("/")[2]
        return safe_next(current)
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def on_login_required(request: Request, exc: LoginRequired) -> Response:
    if not is_page_request(request):
        return api_exception_handlers[HTTPException](request, exc)
    target = "/login?next=" + quote(_current_page(request), safe="/")
    if "hx-request" in request.headers:
        # htmx would swap the login page into a fragment: make it load the whole page instead
        return Response(content="", status_code=401, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def error_page(request: Request, status: int, message: str) -> Response:
    return Template("error.html", context={"status": status, "message": message}, status_code=status)


def _portal_exists(request: Request) -> bool:
    return any(route.path == PORTAL_PATH for route in request.app.routes)


def on_staff_only(request: Request, exc: StaffOnly) -> Response:
    if is_page_request(request) and _portal_exists(request):
        return Redirect(PORTAL_PATH, status_code=303)
    return on_http_error(request, exc)


def on_http_error(request: Request, exc: HTTPException) -> Response:
    if not is_page_request(request):
        return api_exception_handlers[HTTPException](request, exc)
    return error_page(request, exc.status_code, str(exc.detail))


def on_domain_error(request: Request, exc: DomainError) -> Response:
    if not is_page_request(request):
        return api_exception_handlers[DomainError](request, exc)
    return error_page(request, exc.status, exc.detail)


#: The app's exception handlers: pages get HTML (or a redirect to login), the API keeps problem JSON.
exception_handlers = {
    **api_exception_handlers,
    HTTPException: on_http_error,
    DomainError: on_domain_error,
    LoginRequired: on_login_required,
    StaffOnly: on_staff_only,
}
