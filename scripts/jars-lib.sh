# Shared by kafka-jars.sh and connect-jars.sh (sourced, not run): checks on a resolved jar set and
# the swap that puts it in place.

# check_slf4j_binding NAME LIBS POM: the SLF4J API and its log4j2 binding in LIBS must be of the
# same generation, or the JVM silently logs nothing: slf4j-api 1.7.x needs log4j-slf4j-impl, 2.x
# needs log4j-slf4j2-impl. NAME prefixes the messages; POM is what to fix.
check_slf4j_binding() {
	local name=$1 libs=$2 pom=$3 api binding
	shopt -s nullglob
	api=("$libs"/slf4j-api-*.jar)
	if [ "${#api[@]}" -ne 1 ]; then
		echo "$name: expected one slf4j-api jar, found ${#api[@]}" >&2
		exit 1
	fi
	case "$(basename "${api[0]}")" in
	slf4j-api-1.*) binding=("$libs"/log4j-slf4j-impl-*.jar) ;;
	*) binding=("$libs"/log4j-slf4j2-impl-*.jar) ;;
	esac
	if [ "${#binding[@]}" -ne 1 ]; then
		echo "$name: $(basename "${api[0]}") has no matching log4j2 binding; fix $pom" >&2
		exit 1
	fi
}

# swap_in CACHE TMP DIR...: moves each TMP/DIR to CACHE/DIR with renames, so a JVM starting
# meanwhile sees the old set or the new one (or, for an instant, none), never a half-deleted one;
# the old sets go into TMP, which the caller removes.
swap_in() {
	local cache=$1 tmp=$2 d
	shift 2
	for d in "$@"; do
		[ ! -e "$cache/$d" ] || mv "$cache/$d" "$tmp/old-$d"
		mv "$tmp/$d" "$cache/$d"
	done
}
