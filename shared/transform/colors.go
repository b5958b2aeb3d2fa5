// Colour keywords of CSS Color Module Level 4, which Cloudinary also accepts.

package transform

// namedColor maps a CSS colour keyword (and "transparent") to its value.
func namedColor(name string) (Color, bool) {
	switch name {
	case "transparent":
		return Color{0, 0, 0, 0}, true
	case "aliceblue":
		return Color{240, 248, 255, 255}, true
	case "antiquewhite":
		return Color{250, 235, 215, 255}, true
	case "aqua":
		return Color{0, 255, 255, 255}, true
	case "aquamarine":
		return Color{127, 255, 212, 255}, true
	case "azure":
		return Color{240, 255, 255, 255}, true
	case "beige":
		return Color{245, 245, 220, 255}, true
	case "bisque":
		return Color{255, 228, 196, 255}, true
	case "black":
		return Color{0, 0, 0, 255}, true
	case "blanchedalmond":
		return Color{255, 235, 205, 255}, true
	case "blue":
		return Color{0, 0, 255, 255}, true
	case "blueviolet":
		return Color{138, 43, 226, 255}, true
	case "brown":
		return Color{165, 42, 42, 255}, true
	case "burlywood":
		return Color{222, 184, 135, 255}, true
	case "cadetblue":
		return Color{95, 158, 160, 255}, true
	case "chartreuse":
		return Color{127, 255, 0, 255}, true
	case "chocolate":
		return Color{210, 105, 30, 255}, true
	case "coral":
		return Color{255, 127, 80, 255}, true
	case "cornflowerblue":
		return Color{100, 149, 237, 255}, true
	case "cornsilk":
		return Color{255, 248, 220, 255}, true
	case "crimson":
		return Color{220, 20, 60, 255}, true
	case "cyan":
		return Color{0, 255, 255, 255}, true
	case "darkblue":
		return Color{0, 0, 139, 255}, true
	case "darkcyan":
		return Color{0, 139, 139, 255}, true
	case "darkgoldenrod":
		return Color{184, 134, 11, 255}, true
	case "darkgray":
		return Color{169, 169, 169, 255}, true
	case "darkgreen":
		return Color{0, 100, 0, 255}, true
	case "darkgrey":
		return Color{169, 169, 169, 255}, true
	case "darkkhaki":
		return Color{189, 183, 107, 255}, true
	case "darkmagenta":
		return Color{139, 0, 139, 255}, true
	case "darkolivegreen":
		return Color{85, 107, 47, 255}, true
	case "darkorange":
		return Color{255, 140, 0, 255}, true
	case "darkorchid":
		return Color{153, 50, 204, 255}, true
	case "darkred":
		return Color{139, 0, 0, 255}, true
	case "darksalmon":
		return Color{233, 150, 122, 255}, true
	case "darkseagreen":
		return Color{143, 188, 143, 255}, true
	case "darkslateblue":
		return Color{72, 61, 139, 255}, true
	case "darkslategray":
		return Color{47, 79, 79, 255}, true
	case "darkslategrey":
		return Color{47, 79, 79, 255}, true
	case "darkturquoise":
		return Color{0, 206, 209, 255}, true
	case "darkviolet":
		return Color{148, 0, 211, 255}, true
	case "deeppink":
		return Color{255, 20, 147, 255}, true
	case "deepskyblue":
		return Color{0, 191, 255, 255}, true
	case "dimgray":
		return Color{105, 105, 105, 255}, true
	case "dimgrey":
		return Color{105, 105, 105, 255}, true
	case "dodgerblue":
		return Color{30, 144, 255, 255}, true
	case "firebrick":
		return Color{178, 34, 34, 255}, true
	case "floralwhite":
		return Color{255, 250, 240, 255}, true
	case "forestgreen":
		return Color{34, 139, 34, 255}, true
	case "fuchsia":
		return Color{255, 0, 255, 255}, true
	case "gainsboro":
		return Color{220, 220, 220, 255}, true
	case "ghostwhite":
		return Color{248, 248, 255, 255}, true
	case "gold":
		return Color{255, 215, 0, 255}, true
	case "goldenrod":
		return Color{218, 165, 32, 255}, true
	case "gray":
		return Color{128, 128, 128, 255}, true
	case "green":
		return Color{0, 128, 0, 255}, true
	case "greenyellow":
		return Color{173, 255, 47, 255}, true
	case "grey":
		return Color{128, 128, 128, 255}, true
	case "honeydew":
		return Color{240, 255, 240, 255}, true
	case "hotpink":
		return Color{255, 105, 180, 255}, true
	case "indianred":
		return Color{205, 92, 92, 255}, true
	case "indigo":
		return Color{75, 0, 130, 255}, true
	case "ivory":
		return Color{255, 255, 240, 255}, true
	case "khaki":
		return Color{240, 230, 140, 255}, true
	case "lavender":
		return Color{230, 230, 250, 255}, true
	case "lavenderblush":
		return Color{255, 240, 245, 255}, true
	case "lawngreen":
		return Color{124, 252, 0, 255}, true
	case "lemonchiffon":
		return Color{255, 250, 205, 255}, true
	case "lightblue":
		return Color{173, 216, 230, 255}, true
	case "lightcoral":
		return Color{240, 128, 128, 255}, true
	case "lightcyan":
		return Color{224, 255, 255, 255}, true
	case "lightgoldenrodyellow":
		return Color{250, 250, 210, 255}, true
	case "lightgray":
		return Color{211, 211, 211, 255}, true
	case "lightgreen":
		return Color{144, 238, 144, 255}, true
	case "lightgrey":
		return Color{211, 211, 211, 255}, true
	case "lightpink":
		return Color{255, 182, 193, 255}, true
	case "lightsalmon":
		return Color{255, 160, 122, 255}, true
	case "lightseagreen":
		return Color{32, 178, 170, 255}, true
	case "lightskyblue":
		return Color{135, 206, 250, 255}, true
	case "lightslategray":
		return Color{119, 136, 153, 255}, true
	case "lightslategrey":
		return Color{119, 136, 153, 255}, true
	case "lightsteelblue":
		return Color{176, 196, 222, 255}, true
	case "lightyellow":
		return Color{255, 255, 224, 255}, true
	case "lime":
		return Color{0, 255, 0, 255}, true
	case "limegreen":
		return Color{50, 205, 50, 255}, true
	case "linen":
		return Color{250, 240, 230, 255}, true
	case "magenta":
		return Color{255, 0, 255, 255}, true
	case "maroon":
		return Color{128, 0, 0, 255}, true
	case "mediumaquamarine":
		return Color{102, 205, 170, 255}, true
	case "mediumblue":
		return Color{0, 0, 205, 255}, true
	case "mediumorchid":
		return Color{186, 85, 211, 255}, true
	case "mediumpurple":
		return Color{147, 112, 219, 255}, true
	case "mediumseagreen":
		return Color{60, 179, 113, 255}, true
	case "mediumslateblue":
		return Color{123, 104, 238, 255}, true
	case "mediumspringgreen":
		return Color{0, 250, 154, 255}, true
	case "mediumturquoise":
		return Color{72, 209, 204, 255}, true
	case "mediumvioletred":
		return Color{199, 21, 133, 255}, true
	case "midnightblue":
		return Color{25, 25, 112, 255}, true
	case "mintcream":
		return Color{245, 255, 250, 255}, true
	case "mistyrose":
		return Color{255, 228, 225, 255}, true
	case "moccasin":
		return Color{255, 228, 181, 255}, true
	case "navajowhite":
		return Color{255, 222, 173, 255}, true
	case "navy":
		return Color{0, 0, 128, 255}, true
	case "oldlace":
		return Color{253, 245, 230, 255}, true
	case "olive":
		return Color{128, 128, 0, 255}, true
	case "olivedrab":
		return Color{107, 142, 35, 255}, true
	case "orange":
		return Color{255, 165, 0, 255}, true
	case "orangered":
		return Color{255, 69, 0, 255}, true
	case "orchid":
		return Color{218, 112, 214, 255}, true
	case "palegoldenrod":
		return Color{238, 232, 170, 255}, true
	case "palegreen":
		return Color{152, 251, 152, 255}, true
	case "paleturquoise":
		return Color{175, 238, 238, 255}, true
	case "palevioletred":
		return Color{219, 112, 147, 255}, true
	case "papayawhip":
		return Color{255, 239, 213, 255}, true
	case "peachpuff":
		return Color{255, 218, 185, 255}, true
	case "peru":
		return Color{205, 133, 63, 255}, true
	case "pink":
		return Color{255, 192, 203, 255}, true
	case "plum":
		return Color{221, 160, 221, 255}, true
	case "powderblue":
		return Color{176, 224, 230, 255}, true
	case "purple":
		return Color{128, 0, 128, 255}, true
	case "rebeccapurple":
		return Color{102, 51, 153, 255}, true
	case "red":
		return Color{255, 0, 0, 255}, true
	case "rosybrown":
		return Color{188, 143, 143, 255}, true
	case "royalblue":
		return Color{65, 105, 225, 255}, true
	case "saddlebrown":
		return Color{139, 69, 19, 255}, true
	case "salmon":
		return Color{250, 128, 114, 255}, true
	case "sandybrown":
		return Color{244, 164, 96, 255}, true
	case "seagreen":
		return Color{46, 139, 87, 255}, true
	case "seashell":
		return Color{255, 245, 238, 255}, true
	case "sienna":
		return Color{160, 82, 45, 255}, true
	case "silver":
		return Color{192, 192, 192, 255}, true
	case "skyblue":
		return Color{135, 206, 235, 255}, true
	case "slateblue":
		return Color{106, 90, 205, 255}, true
	case "slategray":
		return Color{112, 128, 144, 255}, true
	case "slategrey":
		return Color{112, 128, 144, 255}, true
	case "snow":
		return Color{255, 250, 250, 255}, true
	case "springgreen":
		return Color{0, 255, 127, 255}, true
	case "steelblue":
		return Color{70, 130, 180, 255}, true
	case "tan":
		return Color{210, 180, 140, 255}, true
	case "teal":
		return Color{0, 128, 128, 255}, true
	case "thistle":
		return Color{216, 191, 216, 255}, true
	case "tomato":
		return Color{255, 99, 71, 255}, true
	case "turquoise":
		return Color{64, 224, 208, 255}, true
	case "violet":
		return Color{238, 130, 238, 255}, true
	case "wheat":
		return Color{245, 222, 179, 255}, true
	case "white":
		return Color{255, 255, 255, 255}, true
	case "whitesmoke":
		return Color{245, 245, 245, 255}, true
	case "yellow":
		return Color{255, 255, 0, 255}, true
	case "yellowgreen":
		return Color{154, 205, 50, 255}, true
	}
	return Color{}, false
}
