package transform

import (
	"math"
	"strconv"
	"strings"

	"github.com/refract-cdn/refract/shared/clderr"
)

// Expressions are Cloudinary's arithmetic on numbers, user variables and
// the image's own measures, written with named operators:
// "iw_div_2", "$w_mul_0.5_add_10". They are validated when parsed and
// evaluated by the renderer, which knows the measures.

const (
	maxExprTokens = 15 // operands and operators in one expression
	maxVarName    = 32
)

// predefined are the measures an expression may name.
var predefined = [...]string{"w", "h", "ar", "iw", "ih", "iar", "pc", "fc"}

// Env is what an expression is evaluated against: the current and
// initial sizes, the page and face counts, and the variables assigned so
// far (the latest assignment of a name wins).
type Env struct {
	W, H, IW, IH float64
	Pages, Faces float64
	Vars         []Value
}

// Value is an evaluated variable: a number, or a string for "!text!".
type Value struct {
	Name  string // without '$'
	Num   float64
	Str   string
	IsStr bool
}

func (e *Env) measure(name string) (float64, bool) {
	switch name {
	case "w":
		return e.W, true
	case "h":
		return e.H, true
	case "ar":
		return ratio(e.W, e.H), true
	case "iw":
		return e.IW, true
	case "ih":
		return e.IH, true
	case "iar":
		return ratio(e.IW, e.IH), true
	case "pc":
		return e.Pages, true
	case "fc":
		return e.Faces, true
	}
	return 0, false
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// lookupVar finds the latest assignment of name.
func (e *Env) lookupVar(name string) (Value, bool) {
	for i := len(e.Vars) - 1; i >= 0; i-- {
		if e.Vars[i].Name == name {
			return e.Vars[i], true
		}
	}
	return Value{}, false
}

// Set assigns a variable.
func (e *Env) Set(v Value) { e.Vars = append(e.Vars, v) }

func isOperator(t string) bool {
	switch t {
	case "add", "sub", "mul", "div", "mod", "pow":
		return true
	}
	return false
}

func isPredefined(t string) bool {
	for _, p := range predefined {
		if p == t {
			return true
		}
	}
	return false
}

// validVarName reports whether s (after '$') is a variable name: a letter,
// then letters and digits.
func validVarName(s string) bool {
	if s == "" || len(s) > maxVarName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// validOperand reports whether t can stand as an operand.
func validOperand(t string) bool {
	if t == "" {
		return false
	}
	if t[0] == '$' {
		return validVarName(t[1:])
	}
	if isPredefined(t) {
		return true
	}
	_, ok := signed(t)
	return ok
}

// isExpr reports whether v is a well-formed expression that names a
// variable or a measure; plain numbers are left to the typed parsers.
func isExpr(v string) bool {
	n, symbolic := 0, false
	for rest := v; ; n++ {
		tok, tail, more := strings.Cut(rest, "_")
		if n >= maxExprTokens {
			return false
		}
		if n%2 == 0 {
			if !validOperand(tok) {
				return false
			}
			if tok[0] == '$' || isPredefined(tok) {
				symbolic = true
			}
		} else if !isOperator(tok) {
			return false
		}
		if !more {
			return n%2 == 0 && symbolic
		}
		rest = tail
	}
}

// Eval computes expression v against env, with the usual precedence:
// pow, then mul/div/mod, then add/sub, each left to right.
func Eval(v string, env *Env) (float64, error) {
	var vals [maxExprTokens/2 + 1]float64
	var ops [maxExprTokens / 2]string
	nv, no := 0, 0
	for i, rest := 0, v; ; i++ {
		tok, tail, more := strings.Cut(rest, "_")
		if i >= maxExprTokens {
			return 0, clderr.BadRequest("Invalid expression - %s", v)
		}
		if i%2 == 0 {
			f, err := operand(tok, env)
			if err != nil {
				return 0, err
			}
			vals[nv], nv = f, nv+1
		} else {
			if !isOperator(tok) {
				return 0, clderr.BadRequest("Invalid expression - %s", v)
			}
			ops[no], no = tok, no+1
		}
		if !more {
			if i%2 != 0 {
				return 0, clderr.BadRequest("Invalid expression - %s", v)
			}
			break
		}
		rest = tail
	}
	for _, level := range [...][]string{{"pow"}, {"mul", "div", "mod"}, {"add", "sub"}} {
		for i := 0; i < no; {
			if !contains(level, ops[i]) {
				i++
				continue
			}
			r, err := arith(ops[i], vals[i], vals[i+1], v)
			if err != nil {
				return 0, err
			}
			vals[i] = r
			copy(vals[i+1:nv], vals[i+2:nv])
			copy(ops[i:no], ops[i+1:no])
			nv, no = nv-1, no-1
		}
	}
	return vals[0], nil
}

func contains(set []string, s string) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}

func arith(op string, a, b float64, expr string) (float64, error) {
	var r float64
	switch op {
	case "add":
		r = a + b
	case "sub":
		r = a - b
	case "mul":
		r = a * b
	case "div", "mod":
		if b == 0 {
			return 0, clderr.BadRequest("Division by zero in expression - %s", expr)
		}
		if op == "div" {
			r = a / b
		} else {
			r = math.Mod(a, b)
		}
	case "pow":
		r = math.Pow(a, b)
	}
	if math.IsNaN(r) || math.IsInf(r, 0) || math.Abs(r) > 1e9 {
		return 0, clderr.BadRequest("Expression out of range - %s", expr)
	}
	return r, nil
}

func operand(tok string, env *Env) (float64, error) {
	if tok == "" {
		return 0, clderr.BadRequest("Invalid expression - empty operand")
	}
	if tok[0] == '$' {
		val, ok := env.lookupVar(tok[1:])
		if !ok {
			return 0, clderr.BadRequest("Undefined variable - %s", tok)
		}
		if val.IsStr {
			return 0, clderr.BadRequest("Variable %s is a string, not a number", tok)
		}
		return val.Num, nil
	}
	if f, ok := env.measure(tok); ok {
		return f, nil
	}
	if f, ok := signed(tok); ok {
		return f, nil
	}
	return 0, clderr.BadRequest("Invalid expression operand - %s", tok)
}

// FormatNumber writes an evaluated value the way the typed parsers read
// it: at most four decimals, so results like 1000/3 stay parseable.
func FormatNumber(f float64) string {
	return strconv.FormatFloat(math.Round(f*1e4)/1e4, 'f', -1, 64)
}

// Var is an assignment "$name_value" as written.
type Var struct {
	Name  string // without '$'
	Value string
}

// validVarValue accepts a number, an expression, a variable or "!text!".
func validVarValue(v string) bool {
	if len(v) >= 2 && v[0] == '!' && v[len(v)-1] == '!' {
		return !strings.ContainsAny(v[1:len(v)-1], "!/")
	}
	if _, ok := signed(v); ok {
		return true
	}
	return isExpr(v)
}

// EvalVar evaluates an assignment's value.
func EvalVar(v Var, env *Env) (Value, error) {
	if len(v.Value) >= 2 && v.Value[0] == '!' {
		return Value{Name: v.Name, Str: v.Value[1 : len(v.Value)-1], IsStr: true}, nil
	}
	if f, ok := signed(v.Value); ok {
		return Value{Name: v.Name, Num: f}, nil
	}
	f, err := Eval(v.Value, env)
	if err != nil {
		return Value{}, err
	}
	return Value{Name: v.Name, Num: f}, nil
}

// Cond is a component's if_ part.
type Cond struct {
	Kind CondKind
	Expr string // for CondIf: "w_gt_300_and_ar_lt_1"
}

// CondKind says what an if_ does.
type CondKind uint8

const (
	CondNone CondKind = iota
	CondIf
	CondElse
	CondEnd
)

func isComparison(t string) bool {
	switch t {
	case "eq", "ne", "lt", "gt", "lte", "gte":
		return true
	}
	return false
}

// parseCond validates an if_ value: else, end, or comparisons of operands
// joined by and/or.
func parseCond(v string) (Cond, bool) {
	switch v {
	case "else":
		return Cond{Kind: CondElse}, true
	case "end":
		return Cond{Kind: CondEnd}, true
	}
	// operand cmp operand [(and|or) operand cmp operand]...
	n := 0
	for rest := v; ; n++ {
		tok, tail, more := strings.Cut(rest, "_")
		if n >= maxExprTokens+2 {
			return Cond{}, false
		}
		switch n % 4 {
		case 0, 2:
			if !validOperand(tok) {
				return Cond{}, false
			}
		case 1:
			if !isComparison(tok) {
				return Cond{}, false
			}
		case 3:
			if tok != "and" && tok != "or" {
				return Cond{}, false
			}
		}
		if !more {
			return Cond{Kind: CondIf, Expr: v}, n%4 == 2
		}
		rest = tail
	}
}

// EvalCond evaluates an if_ expression; "and" binds tighter than "or".
func EvalCond(expr string, env *Env) (bool, error) {
	result, term := false, true
	var a, b float64
	var cmp string
	for n, rest := 0, expr; ; n++ {
		tok, tail, more := strings.Cut(rest, "_")
		switch n % 4 {
		case 0, 2:
			f, err := operand(tok, env)
			if err != nil {
				return false, err
			}
			if n%4 == 0 {
				a = f
			} else {
				b = f
				term = term && compare(a, cmp, b)
			}
		case 1:
			cmp = tok
		case 3:
			if tok == "or" {
				result, term = result || term, true
			}
		}
		if !more {
			return result || term, nil
		}
		rest = tail
	}
}

func compare(a float64, cmp string, b float64) bool {
	const eps = 1e-9
	switch cmp {
	case "eq":
		return math.Abs(a-b) < eps
	case "ne":
		return math.Abs(a-b) >= eps
	case "lt":
		return a < b
	case "gt":
		return a > b
	case "lte":
		return a <= b+eps
	case "gte":
		return a >= b-eps
	}
	return false
}
