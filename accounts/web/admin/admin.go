// Package admin is the gate's administration: the JSON API under
// /admin/api and the page at /admin, for members of the admin group. It
// acts through the account service and renders with the pages of package
// web, whose same-origin rule and body readers it uses.
package admin

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"github.com/authgate/authgate/accounts/web"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/verify"
)

// The administration of accounts for the members of Config.AdminGroup: a
// JSON API under /admin/api and a server-rendered page at /admin whose
// forms post to /admin/... (a form can send neither PUT nor DELETE).
// Every request is authenticated like /totp: a bearer token, else the
// session cookie, and a write the cookie authenticates must come from our
// own pages. Every action is logged at info with the admin, the action and
// its target; never a code or a link.

var errNotAdmin = accounts.Errorf(accounts.Forbidden, "forbidden")

// Admin serves the administration through the account handlers' kit.
type Admin struct{ web *web.Handler }

// Router takes routes: an *echo.Group mounted at "/admin", or anything
// that adds routes the same way (with route-level middleware).
type Router interface {
	Add(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
}

// Routes registers the admin API and page on r, paths relative to
// "/admin".
func Routes(w *web.Handler, r Router) {
	h := &Admin{web: w}
	// The JSON API.
	r.Add(http.MethodGet, "/api/users", h.AdminUsers)
	r.Add(http.MethodPost, "/api/invites", h.AdminCreateInvite)
	r.Add(http.MethodGet, "/api/invites", h.AdminInvites)
	r.Add(http.MethodDelete, "/api/invites/:id", h.AdminRevokeInvite)
	r.Add(http.MethodPost, "/api/users/:name/reset-link", h.AdminResetLink)
	r.Add(http.MethodPut, "/api/users/:name/groups", h.AdminSetGroups)
	r.Add(http.MethodDelete, "/api/users/:name/sessions", h.AdminEndSessions)
	r.Add(http.MethodDelete, "/api/users/:name", h.AdminDeleteUser)
	// The page and its forms.
	r.Add(http.MethodGet, "", h.AdminPage)
	r.Add(http.MethodPost, "/invites", h.AdminInviteForm)
	r.Add(http.MethodPost, "/invites/:id/revoke", h.AdminRevokeForm)
	r.Add(http.MethodPost, "/users/:name/groups", h.AdminGroupsForm)
	r.Add(http.MethodPost, "/users/:name/reset-link", h.AdminResetForm)
	r.Add(http.MethodPost, "/users/:name/sessions", h.AdminSessionsForm)
	r.Add(http.MethodPost, "/users/:name/delete", h.AdminDeleteForm)
}

// isAdmin reports whether si's account is, now, a member of the admin
// group: its groups as the store (or the users file) has them, not as its
// token carried them at sign-in, so an admin taken out of the group by an
// edit of the users file loses the rights with the next request.
func (h *Admin) isAdmin(r *http.Request, si verify.SignedIn) bool {
	if h.web.AdminGroup() == "" {
		return false
	}
	u, err := h.web.Service().Account(r.Context(), si.User)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(u.Groups, func(g string) bool { return strings.EqualFold(g, h.web.AdminGroup()) })
}

// adminCaller is the admin behind an API request: 401 without a live
// session, 403 for anyone not in the admin group, and 403 for a write the
// cookie authenticates that comes from another site.
func (h *Admin) adminCaller(c echo.Context, write bool) (verify.SignedIn, error) {
	r := c.Request()
	si, ok := h.web.SignedIn(r)
	if !ok {
		return verify.SignedIn{}, web.ErrSignInFirst
	}
	if !h.isAdmin(c.Request(), si) {
		return verify.SignedIn{}, errNotAdmin
	}
	if write {
		if _, bearer := verify.BearerToken(r.Header); !bearer {
			if err := h.web.RequireSameOrigin(r, "admin request"); err != nil {
				return verify.SignedIn{}, err
			}
		}
	}
	return si, nil
}

// logAdmin records an admin action. Never pass a code or a link.
func (h *Admin) logAdmin(si verify.SignedIn, action, target string, attrs ...any) {
	h.web.Logger().Info("admin action", append([]any{"admin", si.User, "action", action, "target", target}, attrs...)...)
}

// userParam is the account the path names, canonical. A name that cannot
// be a username names no account: 404.
func userParam(c echo.Context) (string, error) {
	name, err := url.PathUnescape(c.Param("name"))
	if err != nil {
		return "", accounts.ErrUserNotFound
	}
	canon, err := accounts.CanonicalUsername(name)
	if err != nil {
		return "", accounts.ErrUserNotFound
	}
	return canon, nil
}

// inviteParam is the invite id the path names.
func inviteParam(c echo.Context) string {
	id, err := url.PathUnescape(c.Param("id"))
	if err != nil {
		return c.Param("id")
	}
	return id
}

// decodeJSON reads exactly one JSON object from the request into dst
// (unknown fields are ignored). An empty body leaves dst as it is when
// optional; otherwise a body that is not application/json is 415, and one
// that is not a single object, or has a field of the wrong type, is 400.
func decodeJSON(r *http.Request, dst any, optional bool) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return err // the body limit: 413
		}
		return web.BodyError(err)
	}
	if optional && len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if !web.IsJSON(r) {
		return accounts.Errorf(accounts.Unsupported, "send application/json")
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return web.ErrNotObject
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return accounts.Errorf(accounts.Invalid, "%s has the wrong type", te.Field)
		}
		return web.ErrNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return web.ErrNotObject
	}
	return nil
}

// parseTTL reads a duration such as "72h" or "30m"; "" is 0, the
// default of the thing it is for.
func parseTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, accounts.Errorf(accounts.Invalid, "ttl must be a duration such as 72h or 30m")
	}
	return d, nil
}

// checkGroups validates and normalises a list of group names.
func checkGroups(groups []string) ([]string, error) {
	for _, g := range groups {
		if strings.Contains(g, ",") {
			return nil, accounts.Errorf(accounts.Invalid, "group names may use letters, digits, '.', '_' and '-'")
		}
	}
	out, err := accounts.ParseGroups(strings.Join(groups, ","))
	if err != nil {
		if accounts.ErrorCode(err) != accounts.Invalid {
			err = &accounts.Error{Code: accounts.Invalid, Message: "invalid group name", Err: err}
		}
		return nil, err
	}
	return out, nil
}

// rfc3339 formats t for the API.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// The actions, shared by the API and the forms. Each logs on success.

func (h *Admin) createInvite(c echo.Context, si verify.SignedIn, groups []string, uses int, ttl, note string) (string, accounts.Grant, error) {
	groups, err := checkGroups(groups)
	if err != nil {
		return "", accounts.Grant{}, err
	}
	d, err := parseTTL(ttl)
	if err != nil {
		return "", accounts.Grant{}, err
	}
	code, g, err := h.web.Service().CreateInvite(c.Request().Context(), accounts.InviteRequest{
		Groups: groups, Uses: uses, TTL: d, Note: note, By: si.User,
	})
	if err != nil {
		return "", accounts.Grant{}, err
	}
	h.logAdmin(si, "create invite", g.ID, "groups", g.Groups, "uses", g.Uses)
	return code, g, nil
}

func (h *Admin) revokeInvite(c echo.Context, si verify.SignedIn, id string) error {
	if err := h.web.Service().RevokeInvite(c.Request().Context(), id, si.User); err != nil {
		return err
	}
	h.logAdmin(si, "revoke invite", id)
	return nil
}

func (h *Admin) resetLink(c echo.Context, si verify.SignedIn, name, ttl string) (string, time.Time, error) {
	d, err := parseTTL(ttl)
	if err != nil {
		return "", time.Time{}, err
	}
	link, expires, err := h.web.Service().ResetLink(c.Request().Context(), name, d, si.User)
	if err != nil {
		return "", time.Time{}, err
	}
	h.logAdmin(si, "create reset link", name)
	return link, expires, nil
}

func (h *Admin) setGroups(c echo.Context, si verify.SignedIn, name string, groups []string) error {
	groups, err := checkGroups(groups)
	if err != nil {
		return err
	}
	if err := h.web.Service().SetGroups(c.Request().Context(), name, groups); err != nil {
		return err
	}
	h.logAdmin(si, "set groups", name, "groups", groups)
	return nil
}

func (h *Admin) endSessions(c echo.Context, si verify.SignedIn, name string) error {
	if err := h.web.Service().EndSessions(c.Request().Context(), name, si.User); err != nil {
		return err
	}
	h.logAdmin(si, "end sessions", name)
	return nil
}

func (h *Admin) deleteUser(c echo.Context, si verify.SignedIn, name string) error {
	if err := h.web.Service().DeleteUser(c.Request().Context(), name); err != nil {
		return err
	}
	h.logAdmin(si, "delete user", name)
	return nil
}

// The JSON API.

// inviteJSON is an invite as the API lists it: never its code or hash.
type inviteJSON struct {
	ID        string   `json:"id"`
	Note      string   `json:"note"`
	Groups    []string `json:"groups"`
	Uses      int      `json:"uses"`
	Expires   string   `json:"expires"`
	CreatedBy string   `json:"created_by"`
}

// AdminUsers handles GET /admin/api/users: {"users": [...]}.
func (h *Admin) AdminUsers(c echo.Context) error {
	if _, err := h.adminCaller(c, false); err != nil {
		return err
	}
	users, err := h.web.Service().Accounts(c.Request().Context())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string][]accounts.AccountInfo{"users": users})
}

// AdminCreateInvite handles POST /admin/api/invites: {"groups", "uses",
// "ttl", "note"} → 201 {"id", "code", "url", "expires", "uses"}. The code
// is shown this once.
func (h *Admin) AdminCreateInvite(c echo.Context) error {
	si, err := h.adminCaller(c, true)
	if err != nil {
		return err
	}
	var in struct {
		Groups []string `json:"groups"`
		Uses   int      `json:"uses"`
		TTL    string   `json:"ttl"`
		Note   string   `json:"note"`
	}
	if err := decodeJSON(c.Request(), &in, false); err != nil {
		return err
	}
	code, g, err := h.createInvite(c, si, in.Groups, in.Uses, in.TTL, in.Note)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, struct {
		ID      string `json:"id"`
		Code    string `json:"code"`
		URL     string `json:"url,omitempty"`
		Expires string `json:"expires"`
		Uses    int    `json:"uses"`
	}{g.ID, code, accounts.InviteURL(h.web.LoginURL(), code), rfc3339(g.Expires), g.Uses})
}

// invites lists the live invites, oldest first.
func (h *Admin) invites(c echo.Context) ([]accounts.Grant, error) {
	all, err := h.web.Service().Invites(c.Request().Context())
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b accounts.Grant) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	return all, nil
}

// AdminInvites handles GET /admin/api/invites: {"invites": [...]}.
func (h *Admin) AdminInvites(c echo.Context) error {
	if _, err := h.adminCaller(c, false); err != nil {
		return err
	}
	all, err := h.invites(c)
	if err != nil {
		return err
	}
	out := make([]inviteJSON, 0, len(all))
	for _, g := range all {
		groups := g.Groups
		if groups == nil {
			groups = []string{}
		}
		out = append(out, inviteJSON{ID: g.ID, Note: g.Note, Groups: groups, Uses: g.Uses, Expires: rfc3339(g.Expires), CreatedBy: g.CreatedBy})
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string][]inviteJSON{"invites": out})
}

// AdminRevokeInvite handles DELETE /admin/api/invites/:id → 204.
func (h *Admin) AdminRevokeInvite(c echo.Context) error {
	si, err := h.adminCaller(c, true)
	if err != nil {
		return err
	}
	if err := h.revokeInvite(c, si, inviteParam(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// AdminResetLink handles POST /admin/api/users/:name/reset-link: an
// optional {"ttl"} → 201 {"url", "expires"}. The link is shown this once.
func (h *Admin) AdminResetLink(c echo.Context) error {
	si, err := h.adminCaller(c, true)
	if err != nil {
		return err
	}
	name, err := userParam(c)
	if err != nil {
		return err
	}
	var in struct {
		TTL string `json:"ttl"`
	}
	if err := decodeJSON(c.Request(), &in, true); err != nil {
		return err
	}
	link, expires, err := h.resetLink(c, si, name, in.TTL)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, map[string]string{"url": link, "expires": rfc3339(expires)})
}

// AdminSetGroups handles PUT /admin/api/users/:name/groups: {"groups"} →
// 204. The user's sessions end: their tokens carry the old groups.
func (h *Admin) AdminSetGroups(c echo.Context) error {
	return h.userAPI(c, func(si verify.SignedIn, name string) error {
		var in struct {
			Groups *[]string `json:"groups"`
		}
		if err := decodeJSON(c.Request(), &in, false); err != nil {
			return err
		}
		if in.Groups == nil {
			return accounts.Errorf(accounts.Invalid, "groups is required (a list, possibly empty)")
		}
		return h.setGroups(c, si, name, *in.Groups)
	})
}

// AdminEndSessions handles DELETE /admin/api/users/:name/sessions → 204.
func (h *Admin) AdminEndSessions(c echo.Context) error {
	return h.userAPI(c, func(si verify.SignedIn, name string) error { return h.endSessions(c, si, name) })
}

// AdminDeleteUser handles DELETE /admin/api/users/:name → 204.
func (h *Admin) AdminDeleteUser(c echo.Context) error {
	return h.userAPI(c, func(si verify.SignedIn, name string) error { return h.deleteUser(c, si, name) })
}

// userAPI runs an admin's write on the account the path names, answering
// 204 when it succeeds.
func (h *Admin) userAPI(c echo.Context, act func(si verify.SignedIn, name string) error) error {
	si, err := h.adminCaller(c, true)
	if err != nil {
		return err
	}
	name, err := userParam(c)
	if err != nil {
		return err
	}
	if err := act(si, name); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// The page.

// adminData is what admin.html shows.
type adminData struct {
	Title string
	Logo  string
	Admin string // the signed-in admin

	// Denied, when set, is the whole page: why the request was refused.
	Denied string

	Error  string
	Notice string

	Users   []adminUser
	Invites []adminInvite

	// InviteForm refills the invite form after an error.
	InviteForm inviteForm
	// Shown once, right after they are made.
	NewInvite *newInvite
	Reset     *resetShown
	// ConfirmDelete is the account whose deletion awaits confirmation.
	ConfirmDelete *adminUser
}

// adminUser is a line of the user list; Path is its URL under /admin.
type adminUser struct {
	accounts.AccountInfo
	Path string
}

// adminInvite is a line of the invite list: never a code or hash.
type adminInvite struct {
	ID        string
	Note      string
	Groups    []string
	Uses      int
	Expires   time.Time
	CreatedBy string
}

type inviteForm struct {
	Groups, Uses, TTL, Note string
}

type newInvite struct {
	ID      string
	Code    string
	URL     string
	Uses    int
	Expires time.Time
}

type resetShown struct {
	User    string
	URL     string
	Expires time.Time
}

// adminNotices are the fixed messages a form's redirect can ask for.
var adminNotices = map[string]string{
	"groups":   "Groups saved. The user's sessions ended: the new groups apply at their next sign-in.",
	"sessions": "Sessions ended.",
	"deleted":  "Account deleted.",
	"revoked":  "Invite revoked.",
}

func (h *Admin) renderAdmin(c echo.Context, status int, d adminData) error {
	d.Title, d.Logo = h.web.Brand()
	return h.web.RenderTemplate(c, status, "admin.html", d)
}

// adminPageData loads the lists the page shows.
func (h *Admin) adminPageData(c echo.Context, si verify.SignedIn) (adminData, error) {
	d := adminData{Admin: si.User, InviteForm: inviteForm{Uses: "1", TTL: "72h"}}
	users, err := h.web.Service().Accounts(c.Request().Context())
	if err != nil {
		return d, err
	}
	for _, u := range users {
		d.Users = append(d.Users, adminUser{AccountInfo: u, Path: "/admin/users/" + url.PathEscape(u.Username)})
	}
	invites, err := h.invites(c)
	if err != nil {
		return d, err
	}
	for _, g := range invites {
		d.Invites = append(d.Invites, adminInvite{ID: g.ID, Note: g.Note, Groups: g.Groups, Uses: g.Uses, Expires: g.Expires, CreatedBy: g.CreatedBy})
	}
	return d, nil
}

// adminPage renders the page with its lists, after change makes its
// additions (a one-time link, a confirmation, an error).
func (h *Admin) adminPage(c echo.Context, status int, si verify.SignedIn, change func(*adminData)) error {
	d, err := h.adminPageData(c, si)
	if err != nil {
		return err
	}
	if change != nil {
		change(&d)
	}
	return h.renderAdmin(c, status, d)
}

// adminFormError shows err on the page with the status the table gives
// it; a server fault is answered like any other.
func (h *Admin) adminFormError(c echo.Context, si verify.SignedIn, err error, change func(*adminData)) error {
	status, msg := web.Status(err)
	if status >= 500 {
		return err
	}
	return h.adminPage(c, status, si, func(d *adminData) {
		d.Error = web.Sentence(msg)
		if change != nil {
			change(d)
		}
	})
}

// pageCaller is the admin behind a page request, or the answer already
// given: a visitor not signed in goes to the login page, anyone else who
// is not an admin gets the 403 page, a form post from another site is
// refused, and a form post must be a form.
func (h *Admin) pageCaller(c echo.Context, form bool) (verify.SignedIn, bool, error) {
	r := c.Request()
	si, ok := h.web.SignedIn(r)
	if !ok {
		c.Response().Header().Set("Cache-Control", "no-store")
		return si, false, c.Redirect(http.StatusSeeOther, h.web.LoginPath())
	}
	if !h.isAdmin(c.Request(), si) {
		return si, false, h.renderAdmin(c, http.StatusForbidden, adminData{
			Admin:  si.User,
			Denied: "This page is for administrators. You are signed in as " + si.User + ", who is not one.",
		})
	}
	if !form {
		return si, true, nil
	}
	if _, bearer := verify.BearerToken(r.Header); !bearer {
		if err := h.web.RequireSameOrigin(r, "admin form"); err != nil {
			status, msg := web.Status(err)
			return si, false, h.renderAdmin(c, status, adminData{Admin: si.User, Denied: msg})
		}
	}
	if !web.IsForm(r) {
		return si, false, accounts.Errorf(accounts.Unsupported, "send a form")
	}
	return si, true, nil
}

// AdminPage handles GET /admin: the user list with a form per user, the
// invite form and the invite list.
func (h *Admin) AdminPage(c echo.Context) error {
	si, ok, err := h.pageCaller(c, false)
	if !ok {
		return err
	}
	return h.adminPage(c, http.StatusOK, si, func(d *adminData) {
		d.Notice = adminNotices[c.QueryParam("done")]
	})
}

// backToAdmin answers a form that changed something: the page again,
// with a fixed notice.
func backToAdmin(c echo.Context, done string) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, "/admin?done="+url.QueryEscape(done))
}

// AdminInviteForm handles POST /admin/invites (groups, uses, ttl, note):
// the page, with the new invite's link and code shown this once.
func (h *Admin) AdminInviteForm(c echo.Context) error {
	si, ok, err := h.pageCaller(c, true)
	if !ok {
		return err
	}
	get, err := web.ReadForm(c.Request())
	if err != nil {
		return err
	}
	in := inviteForm{Groups: get("groups"), Uses: get("uses"), TTL: get("ttl"), Note: get("note")}
	refill := func(d *adminData) { d.InviteForm = in }
	uses := 0
	if s := strings.TrimSpace(in.Uses); s != "" {
		if uses, err = strconv.Atoi(s); err != nil {
			return h.adminFormError(c, si, accounts.Errorf(accounts.Invalid, "uses must be a whole number"), refill)
		}
	}
	code, g, err := h.createInvite(c, si, strings.Split(in.Groups, ","), uses, in.TTL, in.Note)
	if err != nil {
		return h.adminFormError(c, si, err, refill)
	}
	return h.adminPage(c, http.StatusOK, si, func(d *adminData) {
		d.NewInvite = &newInvite{ID: g.ID, Code: code, URL: accounts.InviteURL(h.web.LoginURL(), code), Uses: g.Uses, Expires: g.Expires}
	})
}

// AdminRevokeForm handles POST /admin/invites/:id/revoke.
func (h *Admin) AdminRevokeForm(c echo.Context) error {
	si, ok, err := h.pageCaller(c, true)
	if !ok {
		return err
	}
	if err := h.revokeInvite(c, si, inviteParam(c)); err != nil {
		return h.adminFormError(c, si, err, nil)
	}
	return backToAdmin(c, "revoked")
}

// AdminGroupsForm handles POST /admin/users/:name/groups (groups: a comma
// list).
func (h *Admin) AdminGroupsForm(c echo.Context) error {
	si, ok, err := h.pageCaller(c, true)
	if !ok {
		return err
	}
	get, err := web.ReadForm(c.Request())
	if err != nil {
		return err
	}
	name, err := userParam(c)
	if err == nil {
		err = h.setGroups(c, si, name, strings.Split(get("groups"), ","))
	}
	if err != nil {
		return h.adminFormError(c, si, err, nil)
	}
	return backToAdmin(c, "groups")
}

// AdminResetForm handles POST /admin/users/:name/reset-link (ttl,
// optional): the page, with the link shown this once.
func (h *Admin) AdminResetForm(c echo.Context) error {
	si, ok, err := h.pageCaller(c, true)
	if !ok {
		return err
	}
	get, err := web.ReadForm(c.Request())
	if err != nil {
		return err
	}
	name, err := userParam(c)
	var (
		link    string
		expires time.Time
	)
	if err == nil {
		link, expires, err = h.resetLink(c, si, name, get("ttl"))
	}
	if err != nil {
		return h.adminFormError(c, si, err, nil)
	}
	return h.adminPage(c, http.StatusOK, si, func(d *adminData) {
		d.Reset = &resetShown{User: name, URL: link, Expires: expires}
	})
}

// AdminSessionsForm handles POST /admin/users/:name/sessions.
func (h *Admin) AdminSessionsForm(c echo.Context) error {
	si, ok, err := h.pageCaller(c, true)
	if !ok {
		return err
	}
	name, err := userParam(c)
	if err == nil {
		err = h.endSessions(c, si, name)
	}
	if err != nil {
		return h.adminFormError(c, si, err, nil)
	}
	return backToAdmin(c, "sessions")
}

// AdminDeleteForm handles POST /admin/users/:name/delete: without
// confirm=yes, the page asks first; with it, the account goes.
func (h *Admin) AdminDeleteForm(c echo.Context) error {
	si, ok, err := h.pageCaller(c, true)
	if !ok {
		return err
	}
	get, err := web.ReadForm(c.Request())
	if err != nil {
		return err
	}
	name, err := userParam(c)
	if err != nil {
		return h.adminFormError(c, si, err, nil)
	}
	if get("confirm") != "yes" {
		if h.web.Service().IsStatic(name) {
			return h.adminFormError(c, si, accounts.ErrStaticUser, nil)
		}
		if _, err := h.web.Service().Account(c.Request().Context(), name); err != nil {
			return h.adminFormError(c, si, err, nil)
		}
		return h.adminPage(c, http.StatusOK, si, func(d *adminData) {
			d.ConfirmDelete = &adminUser{AccountInfo: accounts.AccountInfo{Username: name}, Path: "/admin/users/" + url.PathEscape(name)}
		})
	}
	if err := h.deleteUser(c, si, name); err != nil {
		return h.adminFormError(c, si, err, nil)
	}
	return backToAdmin(c, "deleted")
}
